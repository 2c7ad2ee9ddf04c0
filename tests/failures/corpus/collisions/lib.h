int ffi(void);
int ffi_(void);
int load_(void);
int load(void);
