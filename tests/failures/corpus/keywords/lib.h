int lambda(int from);
int print(int len);
int load(void);
int ffi(void);
int free_(void);
int reset(void);
int instance(void);
int self(int self);
