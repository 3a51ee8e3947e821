// SPDX-License-Identifier: MIT
/*
 * Kernels of the guest CUDA runtime: the registration calls nvcc's host
 * stubs make at load time (__cudaRegisterFatBinary, __cudaRegisterFunction,
 * __cudaRegisterVar, ...), lazy loading (a fatbin is sent with the first
 * job that needs it, described once, and kept per image content), the
 * launch path (__cudaPushCallConfiguration ... __cudaLaunchKernel, and
 * cudaLaunchKernel), kernel attributes, the occupancy calculator and the
 * __device__ symbols. Registration runs in the program's constructors;
 * the rest in the calling thread under rt.lock. Touches rt's module,
 * function, variable and image tables and the batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define PARAM_MAX	32764u	/* protocol.rst: launch parameters */
#define PATCH_MAX	512u	/* and pointer patches */
#define OCC_RESERVED_SMEM	1024u	/* shared memory the system keeps per block (sm_90) */

/* ---- registration ------------------------------------------------------------ */

/* Registration happens in constructors, possibly of several threads' dlopen(). */
CUDART_API void **__cudaRegisterFatBinary(void *fat_cubin)
{
	const __fatBinC_Wrapper_t *w = fat_cubin;
	struct rt_module *m = calloc(1, sizeof(*m));

	if (!m) {
		fprintf(stderr, "libcudart (vgpu): out of memory registering a fatbin\n");
		abort();	/* the stub dereferences what it gets: nothing to return */
	}
	/*
	 * Version 2 is -rdc=true: data is then the device-linked fatbin, whole
	 * for the architectures it was linked for (the prelinked objects in
	 * filename_or_fatbins would only matter to a JIT link, not done here).
	 */
	if (!w || (unsigned int)w->magic != FATBINC_MAGIC || !w->data) {
		m->unusable = cudaErrorInvalidKernelImage;
	} else if (w->version != FATBINC_VERSION && w->version != FATBINC_LINK_VERSION) {
		m->unusable = cudaErrorNotSupported;
	} else {
		const struct vgpu_fatbin_header *h = (const void *)w->data;

		if (h->magic != FATBIN_MAGIC || h->header_size < sizeof(*h)) {
			m->unusable = cudaErrorInvalidKernelImage;
		} else {
			m->data = h;
			m->len = h->header_size + h->fat_size;
		}
	}
	pthread_mutex_lock(&rt.lock);
	m->next = rt.modules;
	rt.modules = m;
	pthread_mutex_unlock(&rt.lock);
	return &m->handle_word;
}

CUDART_API void __cudaRegisterFatBinaryEnd(void **handle)
{
	(void)handle;
}

static struct rt_module *module_of(void **handle)
{
	return handle ? (struct rt_module *)(void *)handle : NULL;
}

/* The process is ending (the stubs' atexit) or a library is unloaded: the
 * image is unloaded with the next batch once no module uses it. */
CUDART_API void __cudaUnregisterFatBinary(void **handle)
{
	struct rt_module *m = module_of(handle);
	struct rt_image *img;

	if (!m)
		return;
	pthread_mutex_lock(&rt.lock);
	img = m->img;
	m->img = NULL;
	if (img && !--img->users && img->state == RT_IMG_LOADED && !rt.sticky &&
	    !rt_room(64, 32) && !vgpu_cmd_module_unload(rt.list, img->ref, NULL)) {
		rt_note("__cudaUnregisterFatBinary()");
		img->state = RT_IMG_NEW;
	}
	pthread_mutex_unlock(&rt.lock);
}

CUDART_API char __cudaInitModule(void **handle)
{
	(void)handle;
	return 1;
}

CUDART_API void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
				       const char *device_name, int thread_limit, uint3 *tid,
				       uint3 *bid, dim3 *bdim, dim3 *gdim, int *wsize)
{
	struct rt_func *f = calloc(1, sizeof(*f));

	(void)device_fun;
	(void)thread_limit;
	(void)tid;
	(void)bid;
	(void)bdim;
	(void)gdim;
	(void)wsize;
	if (!f || !(f->name = strdup(device_name))) {
		free(f);
		fprintf(stderr, "libcudart (vgpu): out of memory registering %s\n", device_name);
		return;
	}
	f->host_fun = host_fun;
	f->mod = module_of(handle);
	pthread_mutex_lock(&rt.lock);
	f->next = rt.funcs;
	rt.funcs = f;
	pthread_mutex_unlock(&rt.lock);
}

CUDART_API void __cudaRegisterVar(void **handle, char *host_var, char *device_address,
				  const char *device_name, int ext, size_t size, int constant,
				  int global)
{
	struct rt_var *v = calloc(1, sizeof(*v));

	(void)device_address;
	(void)ext;
	(void)constant;
	(void)global;
	if (!v || !(v->name = strdup(device_name))) {
		free(v);
		fprintf(stderr, "libcudart (vgpu): out of memory registering %s\n", device_name);
		return;
	}
	v->host_var = host_var;
	v->mod = module_of(handle);
	v->size = size;
	pthread_mutex_lock(&rt.lock);
	v->next = rt.vars;
	rt.vars = v;
	pthread_mutex_unlock(&rt.lock);
}

CUDART_API void __cudaRegisterManagedVar(void **handle, void **host_var_ptr, char *device_address,
					 const char *device_name, int ext, size_t size,
					 int constant, int global)
{
	(void)handle;
	(void)host_var_ptr;
	(void)device_address;
	(void)ext;
	(void)size;
	(void)constant;
	(void)global;
	(void)device_name;
	rt_unsupported("__managed__ variables (__cudaRegisterManagedVar)");
}

static struct rt_func *func_by_host(const void *host_fun)
{
	for (struct rt_func *f = rt.funcs; f; f = f->next)
		if (f->host_fun == host_fun)
			return f;
	return NULL;
}

static struct rt_func *func_by_handle(cudaKernel_t k)
{
	for (struct rt_func *f = rt.funcs; f; f = f->next)
		if ((cudaKernel_t)f == k)
			return f;
	return NULL;
}

static struct rt_var *var_by_host(const void *host_var)
{
	for (struct rt_var *v = rt.vars; v; v = v->next)
		if (v->host_var == host_var)
			return v;
	return NULL;
}

/* ---- loading ------------------------------------------------------------------- */

static uint64_t fnv1a(const void *data, uint64_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint64_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void kernels_free(struct rt_image *img)
{
	for (uint32_t i = 0; i < img->nkernels; i++) {
		free(img->kernels[i].name);
		free(img->kernels[i].param_off);
	}
	free(img->kernels);
	img->kernels = NULL;
	img->nkernels = 0;
}

/* module_describe's kernel records (protocol.rst, "Kernel records"). */
static int describe_parse(struct rt_image *img, const uint8_t *p, uint64_t len)
{
	uint64_t at = 8;
	uint32_t n;

	if (len < 8)
		return -EBADMSG;
	n = le32(p);
	img->kernels = calloc(n ? n : 1, sizeof(*img->kernels));
	if (!img->kernels)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct rt_kernel *k = &img->kernels[i];
		uint32_t name_len, np;

		if (len - at < 48)
			return -EBADMSG;
		name_len = le32(p + at);
		np = le32(p + at + 4);
		k->max_threads = (int32_t)le32(p + at + 8);
		k->shared_bytes = (int32_t)le32(p + at + 12);
		k->const_bytes = (int32_t)le32(p + at + 16);
		k->local_bytes = (int32_t)le32(p + at + 20);
		k->num_regs = (int32_t)le32(p + at + 24);
		k->ptx_version = (int32_t)le32(p + at + 28);
		k->binary_version = (int32_t)le32(p + at + 32);
		k->max_dynamic_shared = (int32_t)le32(p + at + 36);
		k->carveout = -1;
		at += 48;
		if (len - at < ((uint64_t)name_len + 7) / 8 * 8 + 8ull * np)
			return -EBADMSG;
		k->name = strndup((const char *)p + at, name_len);
		at += ((uint64_t)name_len + 7) / 8 * 8;
		k->param_off = calloc(2 * (size_t)np + 1, sizeof(uint32_t));
		if (!k->name || !k->param_off)
			return -ENOMEM;
		img->nkernels = i + 1;
		k->param_size = k->param_off + np;
		k->nparams = np;
		for (uint32_t j = 0; j < np; j++, at += 8) {
			k->param_off[j] = le32(p + at);
			k->param_size[j] = le32(p + at + 4);
			if ((uint64_t)k->param_off[j] + k->param_size[j] > PARAM_MAX)
				return -EBADMSG;
			if (k->param_off[j] + k->param_size[j] > k->param_len)
				k->param_len = k->param_off[j] + k->param_size[j];
		}
	}
	return 0;
}

/*
 * The image of @m, loaded and described: sent with the batch now if it is
 * not yet (lazy: a program's fatbins cost nothing until a kernel, an
 * attribute or a symbol of theirs is used). A failure is kept: a module
 * that cannot load is not sent again.
 */
static cudaError_t module_ready(struct rt_module *m, struct rt_image **out)
{
	struct rt_image *img = m->img;
	uint64_t load, desc, hash, len;
	const void *dout;
	cudaError_t err;
	char why[VGPU_WHY_LEN];
	int ret;

	if (m->unusable)
		return m->unusable;
	if (!img) {
		hash = fnv1a(m->data, m->len);
		for (img = rt.images; img; img = img->next)
			if (img->hash == hash && img->len == m->len)
				break;
		if (!img) {
			img = calloc(1, sizeof(*img));
			if (!img)
				return cudaErrorMemoryAllocation;
			img->hash = hash;
			img->len = m->len;
			img->data = m->data;
			img->next = rt.images;
			rt.images = img;
		}
		img->users++;
		img->data = m->data;	/* a library unloaded since may have held the first copy */
		m->img = img;
	}
	*out = img;
	if (img->state == RT_IMG_LOADED)
		return cudaSuccess;
	if (img->state == RT_IMG_FAILED)
		return img->err;
	if ((err = rt_room(img->len + 64, 64u << 10)))
		return err;
	ret = vgpu_cmd_module_load(rt.list, img->data, img->len, &load);
	if (!ret)
		ret = vgpu_cmd_module_describe(rt.list, load, &desc);
	if (ret)
		return rt_list_err(ret);
	rt_note("(load module %016llx, %llu bytes)", (unsigned long long)img->hash,
		(unsigned long long)img->len);
	/*
	 * libvgpu gives a description 64 KiB of reply; a module of many
	 * templated kernels takes more. Its records are never larger than the
	 * image that holds their names and parameter tables.
	 */
	vgpu_list_set_out_bytes(rt.list, vgpu_list_out_bytes(rt.list) + img->len);
	err = rt_flush();
	vgpu_list_set_out_bytes(rt.list, 0);
	{
		struct vgpu_cmd_result res = { .argsz = sizeof(res) };

		if (vgpu_reply_get(rt.reply, load, &res) || res.status == -ECANCELED)
			return err ? err : cudaErrorUnknown;	/* it did not run: try again later */
		if (res.status) {
			snprintf(why, sizeof(why), "%s", vgpu_reply_message(rt.reply));
			img->state = RT_IMG_FAILED;
			img->err = rt_errno(res.status, why);
			fprintf(stderr, "libcudart (vgpu): loading a module: %s%s\n", why,
				res.status == -EOPNOTSUPP ? " (this device runs no kernels)" : "");
			return img->err;
		}
		img->ref = res.value;
	}
	dout = vgpu_reply_output(rt.reply, desc, &len);
	kernels_free(img);
	if (!dout || describe_parse(img, dout, len)) {
		kernels_free(img);
		img->state = RT_IMG_FAILED;
		img->err = cudaErrorInvalidKernelImage;
		return img->err;
	}
	img->state = RT_IMG_LOADED;
	return err;
}

/* The session's state is gone: every image is loaded again at next use. */
void rt_modules_forget(void)
{
	for (struct rt_image *img = rt.images; img; img = img->next) {
		kernels_free(img);
		img->state = RT_IMG_NEW;
		img->ref = 0;
	}
	for (struct rt_var *v = rt.vars; v; v = v->next)
		v->va = 0;
}

static cudaError_t kernel_of(struct rt_func *f, struct rt_kernel **out)
{
	struct rt_image *img;
	cudaError_t err;

	if (!f || !f->mod)
		return cudaErrorInvalidDeviceFunction;
	if ((err = module_ready(f->mod, &img)))
		return err;
	for (uint32_t i = 0; i < img->nkernels; i++)
		if (!strcmp(img->kernels[i].name, f->name)) {
			*out = &img->kernels[i];
			return cudaSuccess;
		}
	return cudaErrorInvalidDeviceFunction;
}

/* ---- launch ---------------------------------------------------------------------- */

struct call_config {
	dim3 grid, block;
	size_t shared;
	cudaStream_t stream;
};
static __thread struct call_config config_stack[16];
static __thread unsigned int config_depth;

CUDART_API unsigned int __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t shared,
						    struct CUstream_st *stream)
{
	if (config_depth >= 16)
		return 1;
	config_stack[config_depth++] = (struct call_config){ grid, block, shared, stream };
	return 0;
}

CUDART_API cudaError_t __cudaPopCallConfiguration(dim3 *grid, dim3 *block, size_t *shared,
						  void *stream)
{
	struct call_config *c;

	if (!config_depth)
		return rt_set_last(cudaErrorMissingConfiguration);
	c = &config_stack[--config_depth];
	*grid = c->grid;
	*block = c->block;
	*shared = c->shared;
	*(cudaStream_t *)stream = c->stream;
	return cudaSuccess;
}

static int occupancy(const struct rt_kernel *k, const struct vgpu_device_props *p, int block,
		     uint64_t dyn);

/*
 * Lay the parameters out as module_describe says and turn every 8-byte
 * aligned word whose value is a fake device address of a live buffer into
 * a pointer patch (the executor writes the buffer's real address there).
 */
static cudaError_t launch(struct rt_func *f, dim3 grid, dim3 block, void **args, size_t shared,
			  cudaStream_t stream, bool coop)
{
	struct rt_stream *s = rt_stream_get(stream);
	struct rt_kernel *k;
	struct vgpu_launch la = { .argsz = sizeof(la) };
	uint32_t npatches = 0;
	cudaError_t err;
	int ret;

	if (!s)
		return cudaErrorInvalidResourceHandle;
	if (!f)
		return cudaErrorInvalidDeviceFunction;
	if (!grid.x || !grid.y || !grid.z || !block.x || !block.y || !block.z ||
	    grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535 || block.z > 64 ||
	    (uint64_t)block.x * block.y * block.z > 1024 || shared > 0xffffffffu)
		return cudaErrorInvalidConfiguration;
	if ((err = kernel_of(f, &k)))
		return err;
	if (k->nparams && !args)
		return cudaErrorInvalidValue;
	/* as CUDA does, at the call: the whole grid must be resident at once */
	if (coop && (rt.props.flags & VGPU_PROPS_F_GPU) && (uint64_t)grid.x * grid.y * grid.z >
		    (uint64_t)occupancy(k, &rt.props, (int)(block.x * block.y * block.z), shared) *
		    rt.props.multiprocessors)
		return cudaErrorCooperativeLaunchTooLarge;
	memset(rt.params, 0, k->param_len);
	for (uint32_t i = 0; i < k->nparams; i++)
		memcpy(rt.params + k->param_off[i], args[i], k->param_size[i]);
	if ((err = rt_room(k->param_len + strlen(f->name) + 256 + 24ull * PATCH_MAX, 32)))
		return err;
	for (uint32_t off = 0; off + 8 <= k->param_len; off += 8) {
		uint64_t v;
		struct rt_buf *b;

		memcpy(&v, rt.params + off, 8);
		if (!rt_is_dev(v) || !(b = rt_buf_find(v, 0)))
			continue;
		if (npatches == PATCH_MAX)
			return cudaErrorInvalidValue;
		rt.patches[npatches++] = (struct vgpu_patch){ .param_off = off, .buf = b->ref,
							      .off = v - b->va };
	}
	la.flags = coop ? VGPU_LAUNCH_F_COOPERATIVE : 0;
	la.module = f->mod->img->ref;
	la.name = f->name;
	la.grid[0] = grid.x;
	la.grid[1] = grid.y;
	la.grid[2] = grid.z;
	la.block[0] = block.x;
	la.block[1] = block.y;
	la.block[2] = block.z;
	la.shared_bytes = (uint32_t)shared;
	la.param_len = k->param_len;
	la.params = rt.params;
	la.patches = rt.patches;
	la.npatches = npatches;
	ret = vgpu_cmd_launch(rt.list, &la, NULL);
	if (ret)
		return rt_list_err(ret);
	rt_note("%s<<<(%u,%u,%u), (%u,%u,%u), %zu>>> %u param bytes, %u pointers", f->name,
		grid.x, grid.y, grid.z, block.x, block.y, block.z, shared, k->param_len,
		npatches);
	s->seq = rt.seq;
	return cudaSuccess;
}

CUDART_API cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *host_fun)
{
	struct rt_func *f;

	if (!kernel)
		return rt_set_last(cudaErrorInvalidValue);
	pthread_mutex_lock(&rt.lock);
	f = func_by_host(host_fun);
	pthread_mutex_unlock(&rt.lock);
	*kernel = (cudaKernel_t)f;
	return f ? cudaSuccess : rt_set_last(cudaErrorInvalidDeviceFunction);
}

CUDART_API cudaError_t cudaGetKernel(cudaKernel_t *kernel, const void *entry)
{
	return __cudaGetKernel(kernel, entry);
}

CUDART_API cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 grid, dim3 block,
					  void **args, size_t shared, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = launch(func_by_handle(kernel), grid, block, args, shared, stream, false);
	return rt_leave(err);
}

CUDART_API cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 grid, dim3 block,
					       void **args, size_t shared, cudaStream_t stream)
{
	return __cudaLaunchKernel(kernel, grid, block, args, shared, stream);
}

CUDART_API cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
					size_t shared, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = launch(func_by_host(func), grid, block, args, shared, stream, false);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block,
					     void **args, size_t shared, cudaStream_t stream)
{
	return cudaLaunchKernel(func, grid, block, args, shared, stream);
}

CUDART_API cudaError_t cudaLaunchCooperativeKernel(const void *func, dim3 grid, dim3 block,
						   void **args, size_t shared,
						   cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	/* a GPU that says it cannot; the CPU backend fails the launch itself */
	if (!err && !(err = rt_props(false)) && (rt.props.flags & VGPU_PROPS_F_GPU) &&
	    !(rt.props.flags & VGPU_PROPS_F_COOPERATIVE))
		err = cudaErrorNotSupported;
	if (!err)
		err = launch(func_by_host(func), grid, block, args, shared, stream, true);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaLaunchCooperativeKernel_ptsz(const void *func, dim3 grid, dim3 block,
							void **args, size_t shared,
							cudaStream_t stream)
{
	return cudaLaunchCooperativeKernel(func, grid, block, args, shared, stream);
}

/* ---- attributes and occupancy ------------------------------------------------------ */

/* The kernel's dynamic shared memory bound: as set, else as described. */
static int32_t max_dynamic(const struct rt_kernel *k)
{
	return k->set_max_dynamic ? k->set_max_dynamic : k->max_dynamic_shared;
}

CUDART_API cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func)
{
	cudaError_t err = rt_enter();
	struct rt_kernel *k = NULL;

	if (!err && !attr)
		err = cudaErrorInvalidValue;
	if (!err)
		err = kernel_of(func_by_host(func), &k);
	if (!err) {
		memset(attr, 0, sizeof(*attr));
		attr->sharedSizeBytes = (size_t)k->shared_bytes;
		attr->constSizeBytes = (size_t)k->const_bytes;
		attr->localSizeBytes = (size_t)k->local_bytes;
		attr->maxThreadsPerBlock = k->max_threads;
		attr->numRegs = k->num_regs;
		attr->ptxVersion = k->ptx_version;
		attr->binaryVersion = k->binary_version;
		attr->maxDynamicSharedSizeBytes = max_dynamic(k);
		attr->preferredShmemCarveout = k->carveout;
	}
	return rt_leave(err);
}

/*
 * The bound on dynamic shared memory is the kernel's (up to the device's
 * opt-in size less its static shared memory), kept here and used by the
 * occupancy calculator; the executor opts each launch in to what it asks
 * for. The carveout preference is kept and reported.
 */
CUDART_API cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr,
					    int value)
{
	cudaError_t err = rt_enter();
	struct rt_kernel *k = NULL;

	if (!err)
		err = kernel_of(func_by_host(func), &k);
	if (!err && attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
		if (value < 0 || (uint64_t)value + (uint64_t)k->shared_bytes >
				 rt.props.shared_per_block_optin)
			err = cudaErrorInvalidValue;
		else
			k->set_max_dynamic = value;
	} else if (!err && attr == cudaFuncAttributePreferredSharedMemoryCarveout) {
		if (value < -1 || value > 100)
			err = cudaErrorInvalidValue;
		else
			k->carveout = value;
	} else if (!err) {
		err = cudaErrorInvalidValue;
	}
	return rt_leave(err);
}

/* A parameter's place, from the kernel's description. */
CUDART_API cudaError_t cudaFuncGetParamInfo(const void *func, size_t index, size_t *offset,
					    size_t *size)
{
	cudaError_t err = rt_enter();
	struct rt_kernel *k = NULL;

	if (!err)
		err = kernel_of(func_by_host(func), &k);
	if (!err && (!offset || !size || index >= k->nparams))
		err = cudaErrorInvalidValue;
	if (!err) {
		*offset = k->param_off[index];
		*size = k->param_size[index];
	}
	return rt_leave(err);
}

CUDART_API cudaError_t cudaFuncSetCacheConfig(const void *func, enum cudaFuncCache config)
{
	cudaError_t err = rt_enter_nodev();

	(void)config;
	if (!err && !func_by_host(func))
		err = cudaErrorInvalidDeviceFunction;
	return rt_leave(err);
}

#define OCC_SMEM_UNIT		128u	/* shared memory allocation unit (sm_90) */
#define OCC_REG_UNIT		256u	/* registers, allocated per warp in these */
#define OCC_SUBPARTITIONS	4u	/* an SM's register file is split in four */
#define OCC_MAX_REGS		255	/* per thread */

static uint64_t round_up(uint64_t v, uint64_t unit)
{
	return (v + unit - 1) / unit * unit;
}

/* The SM's shared memory as configured for @bytes (the sizes sm_90's
 * L1/shared split offers, KiB). */
static uint64_t smem_config(uint64_t bytes)
{
	static const uint32_t kib[] = { 0, 8, 16, 32, 64, 100, 132, 164, 196, 228 };

	for (size_t i = 0; i < sizeof(kib) / sizeof(kib[0]); i++)
		if (bytes <= kib[i] * 1024ull)
			return kib[i] * 1024ull;
	return bytes;
}

/* The shared memory one block of @k may use: the device's default bound,
 * or its opt-in size for a kernel whose bound exceeds it; plus the reserve. */
static uint64_t smem_per_block(const struct rt_kernel *k, const struct vgpu_device_props *p,
			       uint64_t usage)
{
	(void)k;
	return (usage > p->shared_per_block ? p->shared_per_block_optin : p->shared_per_block) +
	       OCC_RESERVED_SMEM;
}

/*
 * Resident blocks per SM of @k with @block threads and @dyn bytes of
 * dynamic shared memory: the least of the limits by blocks, warps,
 * registers (allocated per warp in units of 256, from four sub-partitions)
 * and shared memory (1 KiB reserved per block, allocated in units of 128
 * bytes, within the SM's configured size), as CUDA's occupancy calculator
 * counts them for compute capability 9.0.
 */
static int occupancy(const struct rt_kernel *k, const struct vgpu_device_props *p, int block,
		     uint64_t dyn)
{
	uint64_t warp = p->warp_size ? p->warp_size : 32, warps, n, lim;
	uint64_t stat = (uint64_t)k->shared_bytes + OCC_RESERVED_SMEM, alloc, sm;

	if (block <= 0 || (uint64_t)block > p->max_threads_per_block ||
	    (k->max_threads > 0 && block > k->max_threads))
		return 0;
	warps = ((uint64_t)block + warp - 1) / warp;
	n = p->max_blocks_per_sm;
	lim = p->max_threads_per_sm / warp / warps;
	n = lim < n ? lim : n;
	if (k->num_regs > 0) {
		uint64_t per_warp = round_up((uint64_t)k->num_regs * warp, OCC_REG_UNIT);

		if (k->num_regs > OCC_MAX_REGS ||
		    per_warp * round_up(warps, OCC_SUBPARTITIONS) > p->regs_per_block)
			return 0;
		lim = (p->regs_per_sm / OCC_SUBPARTITIONS / per_warp) * OCC_SUBPARTITIONS / warps;
		n = lim < n ? lim : n;
	}
	alloc = round_up(stat + dyn, OCC_SMEM_UNIT);
	if (dyn > (uint64_t)max_dynamic(k) ||
	    alloc > smem_per_block(k, p, stat + (uint64_t)max_dynamic(k)))
		return 0;
	sm = smem_config(p->shared_per_sm);
	if (sm < alloc)
		sm = smem_config(alloc);
	lim = sm / alloc;
	n = lim < n ? lim : n;
	return (int)n;
}

static cudaError_t max_blocks(int *num, const void *func, int block, size_t dyn)
{
	struct rt_kernel *k = NULL;
	cudaError_t err;

	if (!num)
		return cudaErrorInvalidValue;
	if ((err = rt_props(false)) || (err = kernel_of(func_by_host(func), &k)))
		return err;
	*num = occupancy(k, &rt.props, block, dyn);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *num, const void *func,
								     int block, size_t dyn_shared)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = max_blocks(num, func, block, dyn_shared);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(
	int *num, const void *func, int block, size_t dyn_shared, unsigned int flags)
{
	cudaError_t err = rt_enter();

	if (!err && flags & ~(unsigned int)cudaOccupancyDisableCachingOverride)
		err = cudaErrorInvalidValue;
	if (!err)
		err = max_blocks(num, func, block, dyn_shared);
	return rt_leave(err);
}

/* The dynamic shared memory each of @num_blocks blocks of @block threads
 * may have, all resident on one SM, counted as CUDA's calculator does. */
CUDART_API cudaError_t cudaOccupancyAvailableDynamicSMemPerBlock(size_t *bytes, const void *func,
								 int num_blocks, int block)
{
	cudaError_t err = rt_enter();
	struct rt_kernel *k = NULL;

	if (!err && (!bytes || num_blocks <= 0))
		err = cudaErrorInvalidValue;
	if (!err && !(err = rt_props(false)))
		err = kernel_of(func_by_host(func), &k);
	if (!err && occupancy(k, &rt.props, block, 0) < num_blocks)
		err = cudaErrorInvalidValue;
	if (!err) {
		uint64_t limit = smem_per_block(k, &rt.props, rt.props.shared_per_sm), avail;

		avail = num_blocks == 1 ? limit : smem_config(rt.props.shared_per_sm);
		avail = avail / (uint64_t)num_blocks / OCC_SMEM_UNIT * OCC_SMEM_UNIT;
		avail = avail < limit ? avail : limit;
		avail = avail > (uint64_t)k->shared_bytes ? avail - (uint64_t)k->shared_bytes : 0;
		if (avail > (uint64_t)max_dynamic(k))
			avail = (uint64_t)max_dynamic(k);
		*bytes = avail;
	}
	return rt_leave(err);
}

/* ---- symbols -------------------------------------------------------------------- */

/*
 * The fake address of __device__/__constant__ variable @sym: its module is
 * loaded and the alias buffer asked for in the batch (module_global) the
 * first time.
 */
static cudaError_t symbol_va(const void *sym, uint64_t *va, uint64_t *size)
{
	struct rt_var *v = var_by_host(sym);
	struct rt_image *img;
	struct rt_buf *b;
	cudaError_t err;
	uint64_t ref;
	int ret;

	if (!v || !v->mod)
		return cudaErrorInvalidSymbol;
	*size = v->size;
	if (v->va && rt_buf_find(v->va, 0)) {
		*va = v->va;
		return cudaSuccess;
	}
	if ((err = module_ready(v->mod, &img)))
		return err;
	if ((err = rt_room(strlen(v->name) + 64, 32)))
		return err;
	b = rt_buf_add(v->size, 0, true);
	if (!b)
		return cudaErrorMemoryAllocation;
	ret = vgpu_cmd_module_global(rt.list, img->ref, v->name, &ref);
	if (ret) {
		rt_buf_del(b);
		return rt_list_err(ret);
	}
	b->ref = ref;
	rt_note("(symbol %s)", v->name);
	v->va = b->va;
	*va = v->va;
	return cudaSuccess;
}

static cudaError_t symbol_copy(const void *sym, void *host, size_t count, size_t offset,
			       enum cudaMemcpyKind kind, bool to, bool sync)
{
	uint64_t va, size;
	cudaError_t err;

	if ((err = symbol_va(sym, &va, &size)))
		return err;
	if (offset > size || count > size - offset)
		return cudaErrorInvalidValue;
	if (kind == cudaMemcpyDefault)
		kind = rt_is_dev((uintptr_t)host) ? cudaMemcpyDeviceToDevice :
			to ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost;
	if (to && kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice)
		return cudaErrorInvalidMemcpyDirection;
	if (!to && kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice)
		return cudaErrorInvalidMemcpyDirection;
	if (to)
		return rt_copy((void *)(uintptr_t)(va + offset), host, count, kind, sync);
	return rt_copy(host, (const void *)(uintptr_t)(va + offset), count, kind, sync);
}

CUDART_API cudaError_t cudaMemcpyToSymbol(const void *sym, const void *src, size_t count,
					  size_t offset, enum cudaMemcpyKind kind)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = symbol_copy(sym, (void *)src, count, offset, kind, true, true);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpyToSymbolAsync(const void *sym, const void *src, size_t count,
					       size_t offset, enum cudaMemcpyKind kind,
					       cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = symbol_copy(sym, (void *)src, count, offset, kind, true, false);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpyFromSymbol(void *dst, const void *sym, size_t count,
					    size_t offset, enum cudaMemcpyKind kind)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = symbol_copy(sym, dst, count, offset, kind, false, true);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const void *sym, size_t count,
						 size_t offset, enum cudaMemcpyKind kind,
						 cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = symbol_copy(sym, dst, count, offset, kind, false, false);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaGetSymbolAddress(void **ptr, const void *sym)
{
	cudaError_t err = rt_enter();
	uint64_t va, size;

	if (!err && !ptr)
		err = cudaErrorInvalidValue;
	if (!err)
		err = symbol_va(sym, &va, &size);
	if (!err)
		*ptr = (void *)(uintptr_t)va;
	return rt_leave(err);
}

/* Known from registration: no device work. */
CUDART_API cudaError_t cudaGetSymbolSize(size_t *size, const void *sym)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_var *v = NULL;

	if (!err && !size)
		err = cudaErrorInvalidValue;
	if (!err && !(v = var_by_host(sym)))
		err = cudaErrorInvalidSymbol;
	if (!err)
		*size = v->size;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaFuncGetName(const char **name, const void *func)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_func *f = NULL;

	if (!err && !name)
		err = cudaErrorInvalidValue;
	if (!err && !(f = func_by_host(func)))
		err = cudaErrorInvalidDeviceFunction;
	if (!err)
		*name = f->name;
	return rt_leave(err);
}

/* cudaLaunchKernelEx(): the cooperative attribute is carried; the others
 * (clusters, priorities, access policies) are not supported. */
CUDART_API cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func,
					   void **args)
{
	cudaError_t err = rt_enter();
	bool coop = false;

	if (!err && !config)
		err = cudaErrorInvalidValue;
	for (unsigned int i = 0; !err && i < config->numAttrs; i++) {
		int v;

		memcpy(&v, config->attrs[i].val, sizeof(v));
		if (config->attrs[i].id == cudaLaunchAttributeCooperative)
			coop = v != 0;
		else
			err = cudaErrorNotSupported;
	}
	if (err == cudaErrorNotSupported)
		rt_unsupported("cudaLaunchKernelEx attributes other than cooperative");
	if (!err)
		err = launch(func_by_host(func), config->gridDim, config->blockDim, args,
			     config->dynamicSmemBytes, config->stream, coop);
	return rt_leave(err);
}
