#ifndef THUMBD_COMMON_ERRTEXT_H
#define THUMBD_COMMON_ERRTEXT_H

#include <stddef.h>

/*
 * Write a formatted reason into a caller's error buffer. Library code
 * never logs: it hands the reason back and the caller, who can name the
 * file, logs it once. A NULL or empty buffer is allowed and ignored.
 */
void errtext_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
