#include "textkit.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int word_count(const char *s) {
    int n = 0, in_word = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) in_word = 0;
        else if (!in_word) { in_word = 1; n++; }
    }
    return n;
}

char *reverse(char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n / 2; i++) { char t = s[i]; s[i] = s[n - 1 - i]; s[n - 1 - i] = t; }
    return s;
}

static char buf[128];
const char *greeting(const char *name) {
    snprintf(buf, sizeof buf, "Hello, %s, from C!", name ? name : "nobody");
    return buf;
}

char *strip_vowels(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    for (; *s; s++) if (!strchr("aeiouAEIOU", *s)) *o++ = *s;
    *o = 0;
    return out;
}

void textkit_free(void *p) { free(p); }

void report(const char *title, int n) { printf("== %s ==\n%d item%s\n", title, n, n == 1 ? "" : "s"); }

int divide(int a, int b) { return a / b; }

void quit(int code) { exit(code); }
