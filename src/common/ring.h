/*
 * ring.h - consistent-hash ring of servers (docs/design.md#namespace-and-placement).
 *
 * Servers are identified by node id strings. The ring sorts them in natural
 * order ("node_2" before "node_10"), so a server's index is stable for a given
 * set of ids, and places `vnodes` virtual points per server on a 64-bit
 * xxHash64 circle. A key belongs to the first point at or after its hash
 * (wrapping). Lookup is a binary search: O(log(n * vnodes)). Memory: 12 bytes
 * per point (1.5 MiB for 64 servers at the default), built in a few ms.
 *
 * The default vnode count is what the balance requirement needs: a server's
 * share of the circle varies by about 1/sqrt(vnodes), so with 2048 points the
 * most loaded of 64 servers carries ~5% more than the mean (test_common_ring
 * prints the numbers; 512 points gave up to 12%). Moving to a new server on a
 * join: ~1/(n+1) of the keys, all of them to the new server. Ids that hash
 * to the same point (64-bit collision) resolve to the server that sorts first.
 */
#ifndef BENCHFS_COMMON_RING_H
#define BENCHFS_COMMON_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_DEFAULT_VNODES 2048

struct ring;

/*
 * Build a ring over `n` node ids (copied; the caller's order does not matter).
 * Duplicate ids, NULL or empty ids, n == 0, n > INT_MAX and vnodes > 65536 are
 * -EINVAL, allocation failure -ENOMEM. vnodes == 0 means the default.
 * The result depends only on the set of ids and vnodes, never on the host.
 */
int ring_create(const char *const *node_ids, size_t n, unsigned vnodes, struct ring **ring_p);

/* Free the ring. NULL is a no-op. */
void ring_destroy(struct ring *ring);

/* Number of servers, and the id of server `idx` (natural order; NULL if out of range). */
size_t ring_size(const struct ring *ring);
const char *ring_node_id(const struct ring *ring, size_t idx);

/* Index of the server owning an arbitrary key / a normalized path (its strlen bytes). */
size_t ring_owner(const struct ring *ring, const void *key, size_t len);
size_t ring_owner_path(const struct ring *ring, const char *path);
/* Index of the server owning a key's 64-bit hash (ring_hash). */
size_t ring_owner_hash(const struct ring *ring, uint64_t h);
/* The circle's points, ascending, and their owners (for tests): their number. */
size_t ring_points(const struct ring *ring, const uint64_t **hashes, const uint32_t **owners);

/*
 * Index of the server holding chunk `index` of inode `ino` by the ring: the
 * key is the 16 bytes le64(ino) || le64(index). (Placement policy such as
 * "chunk 0 lives with the inode's owner" is the caller's.)
 */
size_t ring_owner_chunk(const struct ring *ring, uint64_t ino, uint64_t index);

/* Index of the server with this node id, or -ENOENT. */
int ring_find(const struct ring *ring, const char *node_id);

/* xxHash64 with BenchFS's fixed seed. */
uint64_t ring_hash(const void *data, size_t len);

/* "hh/<16 hex>.<20 digits>" plus NUL fits easily. */
#define RING_CHUNK_NAME_MAX 48

/*
 * Name of the file of chunk `index` of inode `ino` inside a server's chunk
 * directory: <hh>/<ino as 16 hex>.<index in decimal>, hh = low byte of
 * ring_hash(ino as 8 little-endian bytes) in 2 hex digits. The chunk store
 * and the clients that read and write chunk files directly share it.
 */
void ring_chunk_name(char buf[RING_CHUNK_NAME_MAX], uint64_t ino, uint64_t index);

/*
 * 32-bit tag of a node id (from ring_hash). Inode numbers carry the tag of the
 * server that allocated them in their high 32 bits.
 */
uint32_t ring_node_tag(const char *node_id);

/*
 * Natural comparison of node ids: digit runs compare as numbers of any length
 * ("node_2" < "node_10"), other bytes as unsigned bytes, a prefix first. Ids
 * equal as numbers but spelled differently ("n01", "n1") fall back to strcmp,
 * so the order is total and 0 means identical. Returns -1, 0 or 1.
 */
int ring_node_id_cmp(const char *a, const char *b);

#endif
