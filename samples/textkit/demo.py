"""Use the generated textkit bindings: run `embind-py build textkit.c` here first."""

import textkit

print(textkit.word_count("the quick  brown fox"), "words")
print(textkit.greeting("Python"))
print(textkit.greeting(None))

word = bytearray(b"stressed\0")  # a writable buffer: C reverses it in place
textkit.reverse(word)
print(word.rstrip(b"\0").decode())

p = textkit.strip_vowels("embind-py")  # char * results arrive as str
print(p)

textkit.report("inventory", 3)  # C's printf reaches sys.stdout

try:
    textkit.divide(1, 0)
except textkit.WasmTrap as e:
    print("trap:", e)

try:
    textkit.quit(7)
except textkit.WasmExit as e:
    print("C exited with code", e.code)
print("still alive:", textkit.word_count("after the trap"))
