/* Planted for the ctest faults.sites.bites: a fault site whose name is in
 * no list of cmake/YpFaults.cmake.  Never compiled. */
static int
planted(void)
{
    return YP_FAULT(NO_SUCH_FAULT);
}
