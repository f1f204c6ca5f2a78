#include "cpu_int.h"
void mm_table_avx2(struct mm_kernel tab[MB_DTYPE_COUNT])
{
    (void)tab;
}
