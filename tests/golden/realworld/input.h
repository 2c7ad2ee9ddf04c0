/* Golden case: a header written the way real library headers are (guards, export macros,
   extern "C", static inline, variadics), with names long enough that lines must wrap. */
#pragma once
#ifndef REALWORLD_H
#define REALWORLD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
#if defined(_WIN32)
#  define RW_API __declspec(dllexport)
#else
#  define RW_API __attribute__((visibility("default")))
#endif
#define RW_VERSION "1" "." "2"
#define RW_FLAG_HIGH (1UL << 31)
#define RW_MASK 0xFFu
#define RW_EPSILON 1e-3f
#define RW_ALIAS RW_MASK

typedef struct rw_configuration_options { int64_t maximum_allowed_value; double scale_factors[3][3]; } rw_configuration_options;
typedef int (*rw_visit_callback_function)(void *user_data, const char *const *column_values, int column_count);

RW_API int rw_parse_command_line_arguments(int argument_count, const char *const *argument_vector, rw_configuration_options *options);
RW_API int rw_error_message(int code, char **out_message);
RW_API void rw_scale_matrix_in_place(double matrix[3][3], double factor);
RW_API uint64_t rw_visit_every_row_with_callback(rw_visit_callback_function visitor, void *user_data, size_t maximum_rows);
RW_API int rw_log(const char *fmt, ...);
static inline int rw_inline_helper(void) { return 1; }

#ifdef __cplusplus
}
#endif
#endif
