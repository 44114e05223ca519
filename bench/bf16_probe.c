// What oneDNN 2.6 runs for bf16 on this CPU (issue 27): the effective ISA; for MobileNetV2's 1x1
// products as matmuls (fine-tuning's shapes, batch 16) the implementation oneDNN picks for f32 and
// for bf16 operands with f32 results, or the status it refuses bf16 with, and GFLOP/s of each one
// that runs (median of 50 calls); and the same question for a 1x1 convolution (NHWC, bf16 source
// and weights, f32 destination), as the frozen network runs them.
//
//   gcc -O2 bench/bf16_probe.c -ldnnl -o /tmp/bf16_probe && /tmp/bf16_probe
//
// OMP_NUM_THREADS=2 as the benchmarks. ONEDNN_VERBOSE=1 prints the same implementations per call.
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "other";
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// One matmul [m,k] x [k,n] -> [m,n] f32, operands of type `t`.
static void probe(dnnl_engine_t engine, dnnl_stream_t stream, int m, int k, int n, dnnl_data_type_t t) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {m, k}, bd = {k, n}, cd = {m, n};
    dnnl_memory_desc_init_by_tag(&a, 2, ad, t, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, bd, t, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t desc;
    dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c);
    dnnl_primitive_desc_t pd;
    dnnl_status_t status = dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL);
    const char *type = t == dnnl_bf16 ? "bf16" : "f32";
    if (status != dnnl_success) {
        printf("matmul %dx%dx%d %-4s: refused, status %d%s\n", m, k, n, type, status,
               status == dnnl_unimplemented ? " (dnnl_unimplemented)" : "");
        return;
    }
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    dnnl_primitive_t p;
    dnnl_primitive_create(&p, pd);
    dnnl_memory_t ma, mb, mc;
    dnnl_memory_create(&ma, &a, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mb, &b, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_memory_create(&mc, &c, engine, DNNL_MEMORY_ALLOCATE);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
    double times[50];
    for (int i = 0; i < 55; i++) {
        double t0 = now();
        dnnl_primitive_execute(p, stream, 3, args);
        dnnl_stream_wait(stream);
        if (i >= 5) times[i - 5] = now() - t0;
    }
    qsort(times, 50, sizeof(double), by_value);
    printf("matmul %dx%dx%d %-4s: %-22s %6.1f GFLOP/s\n", m, k, n, type, impl, 2.0 * m * k * n / times[25] * 1e-9);
    dnnl_memory_destroy(ma);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mc);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
}

// A 1x1 convolution, batch 16, c_in -> c_out on side x side, NHWC: which implementation, or refused.
static void probe_conv(dnnl_engine_t engine, int side, int c_in, int c_out, dnnl_data_type_t t) {
    dnnl_memory_desc_t src, wei, dst;
    dnnl_dims_t sd = {16, c_in, side, side}, wd = {c_out, c_in, 1, 1}, dd = {16, c_out, side, side};
    dnnl_memory_desc_init_by_tag(&src, 4, sd, t, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&wei, 4, wd, t, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc);
    dnnl_dims_t strides = {1, 1}, pad = {0, 0};
    dnnl_convolution_desc_t desc;
    dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wei, NULL, &dst,
                                       strides, pad, pad);
    dnnl_primitive_desc_t pd;
    dnnl_status_t status = dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL);
    const char *type = t == dnnl_bf16 ? "bf16" : "f32";
    if (status != dnnl_success) {
        printf("conv 1x1 16x%dx%dx%d->%d %-4s: refused, status %d%s\n", side, side, c_in, c_out, type, status,
               status == dnnl_unimplemented ? " (dnnl_unimplemented)" : "");
        return;
    }
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    printf("conv 1x1 16x%dx%dx%d->%d %-4s: %s\n", side, side, c_in, c_out, type, impl);
    dnnl_primitive_desc_destroy(pd);
}

int main(void) {
    printf("oneDNN %d.%d.%d, effective ISA: %s\n", dnnl_version()->major, dnnl_version()->minor,
           dnnl_version()->patch, isa_name(dnnl_get_effective_cpu_isa()));
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    dnnl_engine_create(&engine, dnnl_cpu, 0);
    dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    // Batch 16 of 7x7 (features.14-18, fine-tuning) and of 14x14 (features.13, frozen).
    int shapes[][3] = {{784, 160, 960}, {784, 960, 160}, {784, 320, 1280}, {3136, 96, 576}};
    for (int i = 0; i < 4; i++) {
        probe(engine, stream, shapes[i][0], shapes[i][1], shapes[i][2], dnnl_f32);
        probe(engine, stream, shapes[i][0], shapes[i][1], shapes[i][2], dnnl_bf16);
    }
    probe_conv(engine, 14, 96, 576, dnnl_f32);
    probe_conv(engine, 14, 96, 576, dnnl_bf16);
    probe_conv(engine, 56, 24, 144, dnnl_f32);
    probe_conv(engine, 56, 24, 144, dnnl_bf16);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
