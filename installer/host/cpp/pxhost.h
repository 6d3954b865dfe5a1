/* The C ABI between the C++ host (over OpenFX HostSupport) and the Rust API.
 *
 * Handles are opaque. Strings returned by the host are malloc'd and released
 * with px_string_free. Functions that can fail take `char **err` and, on
 * failure, store a malloc'd message there. No C++ exception crosses this ABI.
 */
#ifndef PIXELSPACE_PXHOST_H
#define PIXELSPACE_PXHOST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PxHost PxHost;
typedef struct PxInstance PxInstance;

/* A source clip's frames, supplied by the caller. All callbacks may be called
 * from several threads at once. */
typedef struct PxSource {
  void *user;
  /* inclusive frame range */
  void (*frame_range)(void *user, int *first, int *last);
  /* full-resolution size in pixels */
  void (*size)(void *user, unsigned *width, unsigned *height);
  /* fill `out` (width*height*4 floats, RGBA, row 0 = bottom) with frame `frame`.
   * Returns 0 on success, otherwise writes a NUL-terminated message into err. */
  int (*read)(void *user, int frame, float *out, size_t n_floats, char *err, size_t err_cap);
  /* called once when the host no longer needs `user` */
  void (*release)(void *user);
} PxSource;

enum { PX_DEPTH_BYTE = 0, PX_DEPTH_SHORT = 1, PX_DEPTH_FLOAT = 2 };

typedef struct PxRenderOptions {
  int depth;        /* PX_DEPTH_* : the pixel depth the host offers on its clips */
  double scale;     /* render scale, (0, 1] */
  int threads;      /* frames rendered at once (fully safe effects) and CPUs reported to the multithread suite */
  int top_down;     /* 1: rows stored top row first, negative rowBytes */
  int row_padding;  /* extra bytes at the end of every row */
  int tile_width;   /* 0: no tiling */
  int tile_height;
  /* polled while rendering; nonzero = cancel. May be NULL. */
  int (*cancelled)(void *user);
  void *cancel_user;
} PxRenderOptions;

/* Receives one rendered frame (RGBA float, row 0 = bottom, width*height*4).
 * Returns 0, or nonzero with a message in err to stop the render. */
typedef int (*PxSink)(void *user, int frame, const float *rgba, unsigned width, unsigned height,
                      char *err, size_t err_cap);

void px_string_free(char *s);

/* Host profiles: what the host offers plugins.
 * PX_PROFILE_FULL: general and filter contexts, temporal clip access, clip frame ranges, the
 *   time-domain and frames-needed actions, tiles and render scales.
 * PX_PROFILE_RESTRICTED: what MLT's host (Shotcut, Kdenlive) offers: the host reports
 *   TemporalClipAccess, SupportsTiles and SupportsMultiResolution 0 and the filter context only
 *   (instances are made in it, effects without it fail); clipGetImage returns the frame being
 *   rendered whatever time is asked for; reading a clip's FrameRange or UnmappedFrameRange fails
 *   with kOfxStatErrUnknown; px_instance_time_domain and px_instance_frames_needed fail without
 *   calling the effect; renders are whole frames at scale 1.
 * One process uses one profile: the first host made fixes it (plugins keep the host they were
 * loaded by), and px_host_new2 with another profile fails with a message. */
enum { PX_PROFILE_FULL = 0, PX_PROFILE_RESTRICTED = 1 };

/* px_host_new(dirs, n, err) is px_host_new2(dirs, n, PX_PROFILE_FULL, err). */
PxHost *px_host_new(const char *const *plugin_dirs, size_t n_dirs, char **err);
PxHost *px_host_new2(const char *const *plugin_dirs, size_t n_dirs, int profile, char **err);
void px_host_free(PxHost *host);
int px_host_effect_count(PxHost *host);
/* key: "id", "label", "group", "version", "contexts" (comma separated), "bundle", "file" */
char *px_host_effect_string(PxHost *host, int index, const char *key);

PxInstance *px_instance_new(PxHost *host, const char *effect_id, char **err);
void px_instance_free(PxInstance *inst);
char *px_instance_context(PxInstance *inst);
char *px_instance_render_thread_safety(PxInstance *inst);
int px_instance_supports_tiles(PxInstance *inst);
int px_instance_supports_multi_resolution(PxInstance *inst);

int px_instance_clip_count(PxInstance *inst);
/* key: "name", "label", "optional" ("0"/"1"), "mask", "output", "connected", "depth", "components" */
char *px_instance_clip_string(PxInstance *inst, int index, const char *key);

int px_instance_param_count(PxInstance *inst);
/* key: "name", "type", "label", "hint", "default", "value", "options" (separated by \x1f),
 * "option_names" (separated by \x1f, empty when the effect gave none), "secret", "parent" */
char *px_instance_param_string(PxInstance *inst, int index, const char *key);
int px_instance_set_param(PxInstance *inst, const char *name, const char *value, char **err);

/* takes ownership of source.user (release is called even on failure) */
int px_instance_connect(PxInstance *inst, const char *clip, PxSource source, char **err);
/* time domain and frames needed fail in the restricted profile */
int px_instance_time_domain(PxInstance *inst, double *first, double *last, char **err);
/* frames the effect needs from input clip `clip` to render frame `time` (its frames-needed
 * action): up to `cap` (first, last) pairs into `ranges` (2 doubles each), their count in *n */
int px_instance_frames_needed(PxInstance *inst, double time, const char *clip, double *ranges, size_t cap,
                              size_t *n, char **err);

int px_instance_render(PxInstance *inst, const int *frames, size_t n_frames, const PxRenderOptions *opts,
                       PxSink sink, void *sink_user, char **err);

/* How long one frame of the last px_instance_render call took, in seconds:
 * `render_action` inside the effect's render action(s) (summed over tiles),
 * `image_fetch` the part of that the host spent in clipGetImage handing the
 * plugin its input images (reading, scaling, converting source frames),
 * `total` for the whole frame in the host (region of definition, the source
 * images' depth conversion, output buffers and the readback to RGBA float);
 * the sink is not included. */
typedef struct PxFrameTiming {
  int frame;
  double render_action;
  double image_fetch;
  double total;
} PxFrameTiming;

/* Copies the timings of the frames the last render finished (in the order
 * they finished) into `out`, at most `cap`; returns how many there are. */
size_t px_instance_render_timings(PxInstance *inst, PxFrameTiming *out, size_t cap);

/* levels: 0 log, 1 message, 2 warning, 3 error, 4 fatal, 5 question */
int px_instance_message_count(PxInstance *inst);
char *px_instance_message(PxInstance *inst, int index, int *level, int *persistent);
double px_instance_progress(PxInstance *inst);

#ifdef __cplusplus
}
#endif

#endif
