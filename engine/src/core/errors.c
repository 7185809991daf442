/* errors.c -- yp_strerror / yp_err_name from the one YP_ERRNO_MAP. */
#include "internal.h"

const char *
yp_strerror(int err)
{
    switch (err) {
#define YP__STRERROR_CASE(name, value, text) case YP_##name: return text;
        YP_ERRNO_MAP(YP__STRERROR_CASE)
#undef YP__STRERROR_CASE
    }
    return "unknown error";
}

const char *
yp_err_name(int err)
{
    switch (err) {
#define YP__ERRNAME_CASE(name, value, text) case YP_##name: return "YP_" #name;
        YP_ERRNO_MAP(YP__ERRNAME_CASE)
#undef YP__ERRNAME_CASE
    }
    return "unknown error";
}
