/*
 * solver_int.h - the PubGrub solver's internal model, shared by pubgrub.c
 * (propagation, conflict resolution, decisions), packages.c (turning index
 * records into packages, versions and incompatibilities) and explain.c (the
 * derivation graph into prose).
 *
 * Version sets are bitsets over a package's known versions (its "universe",
 * sorted ascending, yanked versions left out unless pinned), so every set
 * operation PubGrub needs is exact and cheap; ranges are evaluated once per
 * (package, range) with node-semver's rules. Terms keep the range text they
 * came from as a label so explanations name ranges as the user wrote them;
 * sets without a label are printed as runs of versions (">=1.1.0 <2.0.0").
 * All solver memory lives in one arena released at the end of mb_resolve.
 *
 * Every universe has one extra bit after the real versions, the "phantom"
 * version: a range that matches no known version denotes {phantom} instead
 * of the empty set. The phantom can never be decided (decision making only
 * picks real versions, and finding none adds a "no versions" incompatibility),
 * so it behaves like pub's symbolic ranges: "foo ^3.0.0" stays a satisfiable
 * term during propagation and the failure is explained as "no versions of
 * foo match ^3.0.0" rather than as a contradiction between empty sets.
 */
#ifndef MB_SOLVER_INT_H
#define MB_SOLVER_INT_H

#include "mb_resolver.h"

#define MB_SOLVER_ARENA_MAX (1ull << 31) /* 2 GiB of scratch at most */
#define MB_SOLVER_MAX_STEPS 5000000ull   /* decisions + conflicts before giving up */

enum pkg_type {
    PKG_ROOT,  /* the request ("you") */
    PKG_VBASE, /* the virtual "base" package that base packs provide */
    PKG_REAL,
};

struct term {
    int32_t pkg;
    bool pos;
    uint64_t *set;     /* nwords of the package */
    const char *label; /* range text describing `set`, or NULL */
};

/* Why an incompatibility holds (external causes, then the derived one). */
enum cause {
    C_ROOT,        /* {not root} */
    C_REQUEST,     /* you asked for X */
    C_BASE_NEEDED, /* a solution needs a base pack */
    C_DEPENDENCY,  /* P depends on D */
    C_BASE_COMPAT, /* P requires base R */
    C_BASE_FAMILY, /* P requires base pack B R */
    C_CONFLICTS,   /* P conflicts with Q */
    C_PROVIDES,    /* B is a base pack */
    C_BASE_ENTRY,  /* the base B v is provided by B v */
    C_OTHER_BASE,  /* B is a base outside the base universe */
    C_NO_VERSIONS, /* no versions of P match R */
    C_UNKNOWN,     /* P doesn't exist */
    C_NOT_LOCKED,  /* P is not in packs.lock */
    C_LOCK_PIN,    /* packs.lock pins P to v */
    C_LOCK_GONE,   /* packs.lock pins P to v, which the index no longer has */
    C_DEP_NONE,    /* P's versions depend on versions of D that don't exist */
    C_DERIVED,     /* from two incompatibilities by conflict resolution */
};

struct inc {
    struct term *terms;
    uint32_t nterms;
    enum cause cause;
    int32_t c1, c2;   /* causes of a derived incompatibility */
    int32_t other;    /* C_DEP_NONE: the dependency's package */
    uint32_t lo, hi;  /* C_DEP_NONE: the run of versions */
    const char *note; /* extra text (version pinned, yanked note) */
    /* explanation bookkeeping */
    uint32_t refs;
    int32_t line;
};

struct uver {
    const struct mb_index_version *v; /* NULL for root; for VBASE the base version */
    int32_t base_pkg;                 /* VBASE: the base pack providing this entry */
    int32_t base_ver;                 /* VBASE: its version index in base_pkg */
    bool yanked;
};

struct pkg {
    const char *id;
    enum pkg_type type;
    const struct mb_index_record *rec;
    const char *registry;
    bool unknown;  /* the source has no such pack */
    bool is_base;  /* kind base */
    uint32_t nver; /* real versions; bit nver of every set is the phantom */
    struct uver *vers;
    uint32_t nwords;
    uint64_t *full; /* real versions and the phantom */
    /* incompatibilities that mention the package */
    int32_t *incs;
    uint32_t nincs, capincs;
    /* assignments to the package, in order */
    int32_t *asg;
    uint32_t nasg, capasg;
    bool has_acc;
    struct term acc;  /* intersection of the package's assignments */
    int32_t decision; /* version index or -1 */
    uint64_t *deps_done;
    bool provides_added;
    int32_t prefer_lock, prefer_installed; /* version indices or -1 */
    int32_t lock_ver;                      /* with --locked: the pinned version index or -1 */
    bool requested;
    bool in_base_universe;
};

struct asg {
    struct term t;
    int32_t level;
    int32_t cause; /* incompatibility, or -1 for a decision */
};

struct solver {
    struct mb_arena arena;
    const struct mb_resolve_source *src;
    const struct mb_resolve_opts *opts;
    struct mb_err *err;
    /* packages, looked up by id through an open-addressing table */
    struct pkg *pkgs;
    uint32_t npkgs, cappkgs;
    int32_t *table;
    uint32_t table_cap;
    int32_t root, vbase;
    /* incompatibilities */
    struct inc *incs;
    uint32_t nincs, capincs;
    /* the partial solution */
    struct asg *asgs;
    uint32_t nasgs, capasgs;
    int32_t ndecisions;
    /* base universe: base pack indices decided before solving */
    int32_t *bases;
    uint32_t nbases;
    bool bases_restricted; /* limited to the requested bases */
    struct mb_resolve_stats stats;
    int32_t failure; /* the root incompatibility when solving failed */
};

/* bitsets */
uint64_t *mb_bits_new(struct solver *s, uint32_t nwords);
uint64_t *mb_bits_copy(struct solver *s, const uint64_t *a, uint32_t nwords);
bool mb_bits_empty(const uint64_t *a, uint32_t nwords);
bool mb_bits_subset(const uint64_t *a, const uint64_t *b, uint32_t nwords);
bool mb_bits_disjoint(const uint64_t *a, const uint64_t *b, uint32_t nwords);
bool mb_bits_eq(const uint64_t *a, const uint64_t *b, uint32_t nwords);
uint32_t mb_bits_count(const uint64_t *a, uint32_t nwords);
static inline bool mb_bits_has(const uint64_t *a, uint32_t i)
{
    return (a[i / 64] >> (i % 64)) & 1u;
}
static inline void mb_bits_set(uint64_t *a, uint32_t i)
{
    a[i / 64] |= 1ull << (i % 64);
}

/* terms */
enum rel { REL_SUBSET, REL_DISJOINT, REL_OVERLAP };
enum rel mb_term_relation(const struct solver *s, const struct term *a, const struct term *b);
/* a ∩ b; returns false when out of memory. */
bool mb_term_intersect(struct solver *s, const struct term *a, const struct term *b,
                       struct term *out);
struct term mb_term_inverse(const struct term *t);
/* True when the term allows nothing at all (positive, empty set). */
bool mb_term_is_empty_pos(const struct solver *s, const struct term *t);
bool mb_term_is_full_pos(const struct solver *s, const struct term *t);

/* packages.c */
int mb_solver_pkg(struct solver *s, const char *id, int32_t *out);
int mb_solver_init_bases(struct solver *s);
int mb_solver_add_root_incs(struct solver *s);
/* Add the incompatibilities of a chosen version (dependencies, base, conflicts). */
int mb_solver_version_incs(struct solver *s, int32_t pkg, uint32_t ver, int32_t *first_new);
/* Pick the preferred version allowed by the package's accumulated term, or -1. */
int32_t mb_solver_pick_version(struct solver *s, int32_t pkg);
/* Set of versions of `pkg` satisfying any of the ranges. */
uint64_t *mb_solver_range_set(struct solver *s, int32_t pkg, const struct mb_range *ranges,
                              size_t nranges);
/* Create an incompatibility (terms copied), index it when `index`. Returns its id or -1. */
int32_t mb_solver_new_inc(struct solver *s, const struct term *terms, uint32_t nterms,
                          enum cause cause, int32_t c1, int32_t c2, bool index);
int mb_solver_index_inc(struct solver *s, int32_t id);
int mb_solver_nomem(struct solver *s);

/* explain.c */
int mb_solver_explain(struct solver *s, int32_t failure, char **out);
/* Human form of a term: "foo ^1.0.0", "every version of foo", "base 1.0.x". */
int mb_term_describe(struct solver *s, const struct term *t, bool every, struct mb_buf *out);

#endif /* MB_SOLVER_INT_H */
