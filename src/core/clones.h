/*
 * core/clones.h - CF_CLONES: build a hot loop twice, for AVX2 and for the
 * baseline x86-64, and let the loader pick one for the CPU (GCC function
 * multiversioning, target_clones).  The column encoder and the v9/IPFIX
 * decoder's loops over a chunk of records then run 32 bytes at a time on
 * the machines that can, with one binary for all.
 *
 * Only where it works and pays: GCC on x86-64.  The sanitizer build keeps
 * the baseline only, so that the test suite runs each version in one of
 * the two builds (the Release build on an AVX2 machine runs the AVX2 one).
 * Header-only.
 */
#ifndef CF_CORE_CLONES_H
#define CF_CORE_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define CF_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CF_CLONES
#endif

#endif
