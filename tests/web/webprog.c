#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "echo") == 0) {
        char line[128];
        while (fgets(line, sizeof line, stdin)) printf("echo: %s", line);
        return 0;
    }
    for (int i = 1; i < argc; i++) printf("arg %d: %s\n", i, argv[i]);
    return argc > 1 && strcmp(argv[1], "fail") == 0 ? 3 : 0;
}
