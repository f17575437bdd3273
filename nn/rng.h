/*
 * nn/rng.h — the project's one random-number generator, specified exactly so that
 * any other implementation can reproduce every draw we make.
 *
 * Generator: PCG32 (O'Neill 2014, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
 * Algorithms for Random Number Generation"; the pcg32_random_r / pcg32_srandom_r of the reference
 * pcg-c-basic library, variant XSH-RR 64/32):
 *     state' = state * 6364136223846793005 + increment        (mod 2^64; increment is odd)
 *     output = rotr32(((state >> 18) ^ state) >> 27, state >> 59)   (computed from the old state)
 *     seed(initstate, initseq): state = 0; increment = (initseq << 1) | 1; step;
 *                               state += initstate; step.
 * Known answer: seed(42, 54) gives 0xa15c02b7 0x7b47f409 0xba1d3330 0x83d2f293 0xbfa4784b
 * 0xcbed606e (the reference library's pcg32-demo), checked in tests/test_rng.c.
 *
 * Seeding and stream derivation: SplitMix64 (Steele, Lea, Flood 2014; Vigna's splitmix64.c):
 *     next(s): s += 0x9e3779b97f4a7c15; z = s;
 *              z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
 *              z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
 *              return z ^ (z >> 31).
 * Known answer: from s = 1234567 the first outputs are 6457827717110365317, 3203168211198807973,
 * 9817491932198370423 (Rosetta Code "Pseudo-random numbers/Splitmix64").
 *
 * A stream is named by a seed, a domain tag (four ASCII letters such as "view" or "init", read
 * as a big-endian number) and three indices (a, b, c):
 *     key = seed
 *     for v in (domain, a, b, c):  s = key ^ v;  key = next(s)      (SplitMix64 as a hash)
 *     s = key;  initstate = next(s);  initseq = next(s);  PCG32 seed(initstate, initseq)
 * So view v of image i in epoch e of a run seeded with S draws from
 *     rng_stream(S, RNG_DOMAIN_VIEW, e, i, v)
 * which depends on nothing else: not on batch order, not on the thread that runs it.
 * Weight initialisation draws from rng_stream(S, RNG_DOMAIN_INIT, 0, 0, 0).
 *
 * Draws:
 *     uniform()        = (next_u32() >> 8) * 2^-24, in [0, 1), exact in float
 *     uniform(a, b)    = a + (b - a) * uniform()
 *     randint(lo, hi)  uniform on [lo, hi) without modulo bias: with n = hi - lo, draw
 *                      r = next_u32() until r >= (2^32 - n) mod n, then return lo + r mod n
 *                      (the rejection method of pcg32_boundedrand_r)
 *     normal()         Box–Muller: u1 = uniform() is drawn first, then u2 = uniform();
 *                      return sqrt(-2 ln(1 - u1)) * cos(2 pi u2), computed in double
 *                      (ln and cos(pi x) by nn/maths.h, the same bits on every platform).
 *                      Each call uses exactly two uniforms; the sine half is not kept, so a
 *                      stream's layout never depends on how many normals were drawn before.
 */
#ifndef SIMCLR_NN_RNG_H
#define SIMCLR_NN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct rng {
    uint64_t state;     /* PCG32 state */
    uint64_t increment; /* PCG32 stream selector, always odd */
} rng;

/* Domain tags for rng_stream: four ASCII letters, big-endian. */
#define RNG_DOMAIN_VIEW UINT64_C(0x76696577)    /* "view": one augmented view (epoch, image, view) */
#define RNG_DOMAIN_INIT UINT64_C(0x696e6974)    /* "init": weight initialisation */
#define RNG_DOMAIN_SHUFFLE UINT64_C(0x73687566) /* "shuf": an epoch's sample order (epoch) */
#define RNG_DOMAIN_DATA UINT64_C(0x64617461)    /* "data": procedurally generated data */
#define RNG_DOMAIN_LABELS UINT64_C(0x6c61626c)  /* "labl": a class's labelled images (class) */
#define RNG_DOMAIN_FINETUNE UINT64_C(0x66696e65) /* "fine": a fine-tuning epoch's order (epoch) */

/* One SplitMix64 step: advances *state and returns the next output. */
uint64_t splitmix64_next(uint64_t *state);

/* PCG32 seeding exactly as the reference pcg32_srandom_r. */
void rng_seed(rng *r, uint64_t initstate, uint64_t initseq);

/* The stream named by (seed, domain, a, b, c); see the derivation above. */
void rng_stream(rng *r, uint64_t seed, uint64_t domain, uint64_t a, uint64_t b, uint64_t c);

/* The next 32 random bits. */
uint32_t rng_next_u32(rng *r);

/* Uniform on [0, 1): (next_u32() >> 8) * 2^-24. */
float rng_uniform(rng *r);

/* Uniform on [a, b): a + (b - a) * uniform(). */
float rng_uniform_range(rng *r, float a, float b);

/* Uniform integer on [lo, hi), no modulo bias. Requires lo < hi and hi - lo < 2^32;
 * returns lo without drawing when hi <= lo. */
int64_t rng_randint(rng *r, int64_t lo, int64_t hi);

/* Standard normal by Box–Muller (two uniforms per call, u1 first). */
float rng_normal(rng *r);

/* Shuffles items[0 .. count) in place by Fisher–Yates from the end: for i = count − 1 down to 1,
 * j = randint(0, i + 1), swap items[i] and items[j] (numpy's and PyTorch's randperm order of
 * draws; every epoch order and labelled subset of the project is drawn so). */
void rng_shuffle(rng *r, size_t *items, size_t count);

#endif
