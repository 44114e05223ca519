// HDF5's C API (Debian's libhdf5-dev). Its type and property-list ids are macros that call
// H5open(); these inline functions give them to Swift.
#include <hdf5.h>

static inline hid_t lightbox_h5t_c_s1(void) { return H5T_C_S1; }
static inline hid_t lightbox_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t lightbox_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t lightbox_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline size_t lightbox_h5t_variable(void) { return H5T_VARIABLE; }
static inline unsigned lightbox_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
/// Errors come back as negative return values; HDF5 must not also print its own stack.
static inline void lightbox_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
static inline hid_t lightbox_h5p_file_access(void) { return H5P_FILE_ACCESS; }
