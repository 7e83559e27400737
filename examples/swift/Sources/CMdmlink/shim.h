/* Found through pkg-config's Cflags (-I<prefix>/include). */
#include <mdmlink.h>
