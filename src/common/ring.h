/*
 * ring.h - consistent-hash ring of servers (DESIGN.md §6).
 *
 * Servers are identified by node id strings. The ring sorts them in natural
 * order ("node_2" before "node_10"), so a server's index is stable for a given
 * set of ids, and places `vnodes` virtual points per server on a 64-bit
 * xxHash64 circle. A key belongs to the first point at or after its hash
 * (wrapping). Lookup is a binary search: O(log(n * vnodes)).
 */
#ifndef BENCHFS_COMMON_RING_H
#define BENCHFS_COMMON_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_DEFAULT_VNODES 512

struct ring;

/*
 * Build a ring over `n` node ids (copied). Duplicate ids are -EINVAL, n == 0
 * is -EINVAL, allocation failure -ENOMEM. vnodes == 0 means the default.
 */
int ring_create(const char *const *node_ids, size_t n, unsigned vnodes, struct ring **ring_p);
void ring_destroy(struct ring *ring);

/* Number of servers, and the id of server `idx` (natural order). */
size_t ring_size(const struct ring *ring);
const char *ring_node_id(const struct ring *ring, size_t idx);

/* Index of the server owning an arbitrary key / a normalized path. */
size_t ring_owner(const struct ring *ring, const void *key, size_t len);
size_t ring_owner_path(const struct ring *ring, const char *path);

/* Index of the server holding chunk `index` of inode `ino` (by the ring). */
size_t ring_owner_chunk(const struct ring *ring, uint64_t ino, uint64_t index);

/* Index of the server with this node id, or -ENOENT. */
int ring_find(const struct ring *ring, const char *node_id);

/* xxHash64 with BenchFS's fixed seed. */
uint64_t ring_hash(const void *data, size_t len);

/*
 * 32-bit tag of a node id (from ring_hash). Inode numbers carry the tag of the
 * server that allocated them in their high 32 bits.
 */
uint32_t ring_node_tag(const char *node_id);

/* Natural comparison of node ids: digit runs compare as numbers. */
int ring_node_id_cmp(const char *a, const char *b);

#endif
