#include "lib.h"
int lambda(int from){return from;}
int print(int len){return len;}
int load(void){return 1;}
int ffi(void){return 2;}
int free_(void){return 3;}
int reset(void){return 4;}
int instance(void){return 5;}
int self(int self){return self;}
