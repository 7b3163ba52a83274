/* SPDX-License-Identifier: Apache-2.0 -- shared macros for ext/ C code */
#ifndef VL_COMMON_H
#define VL_COMMON_H
#include <stdint.h>
#if defined(__GNUC__)
#  define VL_LIKELY(x)   __builtin_expect(!!(x), 1)
#  define VL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#  define VL_INLINE      static inline __attribute__((always_inline))
#else
#  define VL_LIKELY(x)   (x)
#  define VL_UNLIKELY(x) (x)
#  define VL_INLINE      static inline
#endif
#endif
