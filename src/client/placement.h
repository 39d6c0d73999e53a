/*
 * placement.h - where requests go (docs/design.md#namespace-and-placement). Pure functions
 * over the ring: no network, no clock, so tests/unit/test_client_placement.c
 * checks them directly.
 *
 *  - Metadata of a path lives on ring_owner_path(path).
 *  - Inode numbers are (tag of the allocating server << 32) | counter, and
 *    chunk 0 of an inode lives on that allocating server (a small file costs
 *    one server, even after a rename moved its inode record elsewhere).
 *  - Chunk i > 0 lives on ring_owner_chunk(ino, i).
 *  - A byte range is cut into pieces at chunk boundaries and at the largest
 *    transfer (max_xfer) the target server accepts in one CHUNK_WRITE/READ.
 *  - Freeing the chunks of [new_size, old_size) sends one CHUNK_REMOVE per
 *    holding server, covering the lowest..highest index it holds.
 */
#ifndef BENCHFS_CLIENT_PLACEMENT_H
#define BENCHFS_CLIENT_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring;

/* Tag -> server index, sorted by tag for bsearch. */
struct placement_tag {
    uint32_t tag;
    uint32_t server;
};

struct placement {
    const struct ring *ring; /* not owned */
    size_t nservers;
    struct placement_tag *tags; /* nservers entries, sorted by tag */
    uint64_t *max_xfer;         /* per server, bytes; > 0 */
};

/*
 * Build the tag table of `ring` and a max_xfer array (every server starts at
 * `default_xfer`). Two servers with the same tag are -EEXIST, with their
 * indices in *dup_a_p / *dup_b_p (either may be NULL). -ENOMEM.
 */
int placement_init(struct placement *p, const struct ring *ring, uint64_t default_xfer,
                   size_t *dup_a_p, size_t *dup_b_p);
void placement_cleanup(struct placement *p);

/* Clamp and set the largest transfer of server `idx` (0 keeps the old value). */
void placement_set_max_xfer(struct placement *p, size_t idx, uint64_t max_xfer);

/* Index of the server with `tag`, or -ENOENT. */
int placement_tag_server(const struct placement *p, uint32_t tag);

/* Server owning the metadata of a normalized path (len bytes). */
size_t placement_path(const struct placement *p, const char *path, size_t len);

/* Server holding chunk `index` of `ino`. */
size_t placement_chunk(const struct placement *p, uint64_t ino, uint64_t index);

/* One CHUNK_WRITE/READ: bytes [offset, offset+length) of chunk `index`. */
struct piece {
    size_t server;
    uint64_t index;
    uint32_t offset;
    uint32_t length;
    uint64_t file_off; /* offset of the piece in the file */
};

/*
 * The piece starting at file offset `off` of a range ending at `end`
 * (off < end), for a file with chunk size `cs` (1 .. 2^32 - 1). The next
 * piece starts at off + piece->length.
 */
void placement_piece(const struct placement *p, uint64_t ino, uint64_t cs, uint64_t off,
                     uint64_t end, struct piece *piece_p);

/* Number of pieces of [off, off+len); handy for sizing and tests. */
uint64_t placement_piece_count(const struct placement *p, uint64_t ino, uint64_t cs, uint64_t off,
                               uint64_t len);

/* One CHUNK_REMOVE: chunks first..last of ino on `server`, `first` cut to keep. */
struct remove_range {
    size_t server;
    uint64_t first;
    uint64_t last;
    uint64_t keep;
};

/*
 * Above this many chunks in a range the exact per-server plan is not worth
 * computing: every server gets the whole range (servers skip missing chunks).
 */
#define PLACEMENT_PLAN_EXACT_MAX (1u << 20)

/*
 * Plan the removal of the data in [new_size, old_size) for chunk size cs:
 * fills ranges[0 .. *count_p) (room for nservers entries), at most one per
 * server, in server order. The server holding chunk new_size / cs, when that
 * chunk is only partly cut, gets first = that index and keep = new_size % cs;
 * every other range has keep 0. Nothing to do (old_size <= new_size) gives
 * *count_p = 0. Returns 0, or -EINVAL for cs == 0.
 */
int placement_remove_plan(const struct placement *p, uint64_t ino, uint64_t cs, uint64_t new_size,
                          uint64_t old_size, struct remove_range *ranges, size_t *count_p);

#endif
