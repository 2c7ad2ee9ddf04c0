/* textkit: strings in and out, printf reaching Python, and C errors as exceptions. */
#ifndef TEXTKIT_H
#define TEXTKIT_H
#include <stddef.h>

/* Count the words in s. */
int word_count(const char *s);
/* Reverse s in place (bytes); returns s. */
char *reverse(char *s);
/* A greeting, in a static buffer. */
const char *greeting(const char *name);
/* A new, malloc'd copy of s with vowels removed; free it with textkit_free. */
char *strip_vowels(const char *s);
void textkit_free(void *p);
/* printf a small report to stdout. */
void report(const char *title, int n);
/* Divide; a zero divisor traps inside C. */
int divide(int a, int b);
/* Exit the "process" with a code. */
void quit(int code);
#endif
