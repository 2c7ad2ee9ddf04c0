#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    return argc > 1 && strcmp(argv[1], "fail") == 0 ? 3 : 0;
}
