// Internal classes of the Pixelspace reference host: the host descriptor,
// the effect instance, clip instances, images and param instances, all
// built on the OpenFX HostSupport library.
#ifndef PIXELSPACE_PX_INTERNAL_H
#define PIXELSPACE_PX_INTERNAL_H

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "ofxCore.h"
#include "ofxImageEffect.h"
#include "ofxhBinary.h"
#include "ofxhPropertySuite.h"
#include "ofxhClip.h"
#include "ofxhParam.h"
#include "ofxhMemory.h"
#include "ofxhImageEffect.h"
#include "ofxhPluginAPICache.h"
#include "ofxhPluginCache.h"
#include "ofxhHost.h"
#include "ofxhImageEffectAPI.h"

#include "pxhost.h"

namespace px {

class Effect;
class Clip;
class Image;

/// A message posted by the plugin through the message suite.
struct Message {
  int level;
  bool persistent;
  std::string text;
};

int messageLevel(const char *type);
const char *statusName(OfxStatus st);
std::string format(const char *fmt, va_list args);

/// A pixel buffer in the layout the plugin sees.
struct PixelBuffer {
  std::shared_ptr<std::vector<unsigned char> > bytes;
  long offset = 0;  // byte offset of row y1 (the bottom row)
  int rowBytes = 0; // negative for top-down storage
  OfxRectI bounds = {0, 0, 0, 0};
};

/// Images handed to the plugin during one render action; whatever the plugin
/// forgets to release is deleted when the action ends.
struct ImageRegistry {
  std::mutex mutex;
  std::set<Image *> live;
  void add(Image *im);
  void remove(Image *im);
  void releaseAll();
};

/// What the current thread is rendering (propagated to threads spawned by the
/// multithread suite).
struct RenderJob {
  Effect *effect = nullptr;
  double time = 0;
  OfxPointD scale = {1, 1};
  OfxRectI window = {0, 0, 0, 0};
  OfxRectI rod = {0, 0, 0, 0};
  PixelBuffer output;  // output buffer of the current render window
  ImageRegistry *registry = nullptr;
  std::vector<std::string> notes;  // host-side notes (missing frames...) for error reports
  std::vector<std::string> posted; // messages the plugin posted during this job
  std::mutex notesMutex;
  unsigned threads = 1;
  std::atomic<long long> fetchNanos{0}; // time spent handing input images to the plugin
};

extern thread_local RenderJob *tlsJob;

/// What the host offers plugins (PX_PROFILE_*): everything, or as little as MLT's host.
enum class Profile { Full, Restricted };
const char *profileName(Profile profile);

/// The single host descriptor (OfxHost) shared by every PxHost. Its profile is fixed when it
/// is made: plugins keep the host pointer they were loaded with, so a process has one profile.
class HostDescriptor : public OFX::Host::ImageEffect::Host {
public:
  explicit HostDescriptor(Profile profile);
  /// The process's descriptor, made with `profile` by the first call; nullptr with `err` set
  /// when it was made with another profile.
  static HostDescriptor *open(Profile profile, std::string &err);
  Profile profile() const { return _profile; }

  OFX::Host::ImageEffect::Instance *newInstance(void *clientData, OFX::Host::ImageEffect::ImageEffectPlugin *plugin,
                                                OFX::Host::ImageEffect::Descriptor &desc,
                                                const std::string &context) override;
  OFX::Host::ImageEffect::Descriptor *makeDescriptor(OFX::Host::ImageEffect::ImageEffectPlugin *plugin) override;
  OFX::Host::ImageEffect::Descriptor *makeDescriptor(const OFX::Host::ImageEffect::Descriptor &rootContext,
                                                     OFX::Host::ImageEffect::ImageEffectPlugin *plug) override;
  OFX::Host::ImageEffect::Descriptor *makeDescriptor(const std::string &bundlePath,
                                                     OFX::Host::ImageEffect::ImageEffectPlugin *plug) override;

  OfxStatus vmessage(const char *type, const char *id, const char *format, va_list args) override;
  OfxStatus setPersistentMessage(const char *type, const char *id, const char *format, va_list args) override;
  OfxStatus clearPersistentMessage() override;

  OfxStatus multiThread(OfxThreadFunctionV1 func, unsigned int nThreads, void *customArg) override;
  OfxStatus multiThreadNumCPUS(unsigned int *nCPUs) const override;
  OfxStatus multiThreadIndex(unsigned int *threadIndex) const override;
  int multiThreadIsSpawnedThread() const override;
  OfxStatus mutexCreate(OfxMutexHandle *mutex, int lockCount) override;
  OfxStatus mutexDestroy(const OfxMutexHandle mutex) override;
  OfxStatus mutexLock(const OfxMutexHandle mutex) override;
  OfxStatus mutexUnLock(const OfxMutexHandle mutex) override;
  OfxStatus mutexTryLock(const OfxMutexHandle mutex) override;

  /// messages posted outside any instance (load, describe, exceptions)
  std::vector<Message> hostMessages();

private:
  Profile _profile;
  std::mutex _msgMutex;
  std::vector<Message> _messages;
};

/// Effect descriptor that also accepts the OFX 1.5 `OfxParamPropChoiceEnum`
/// property on choice params (option names besides labels).
class EffectDescriptor : public OFX::Host::ImageEffect::Descriptor {
public:
  explicit EffectDescriptor(OFX::Host::Plugin *plug) : Descriptor(plug) {}
  EffectDescriptor(const Descriptor &root, OFX::Host::Plugin *plug) : Descriptor(root, plug) {}
  EffectDescriptor(const std::string &bundle, OFX::Host::Plugin *plug) : Descriptor(bundle, plug) {}
  OFX::Host::Param::Descriptor *paramDefine(const char *paramType, const char *name) override;
};

int bytesPerComponent(const std::string &depth);
int componentCount(const std::string &components);
/// Convert RGBA float pixels covering `srcRect` into a new buffer covering `bounds`.
PixelBuffer makeBuffer(const float *rgba, const OfxRectI &srcRect, const OfxRectI &bounds, const std::string &depth,
                       const std::string &components, bool topDown, int padding);
/// Allocate a zeroed buffer covering `bounds`.
PixelBuffer allocBuffer(const OfxRectI &bounds, const std::string &depth, const std::string &components, bool topDown,
                        int padding);
/// Read `window` of a buffer into RGBA float (dst covers `dstRect`).
void readBuffer(const PixelBuffer &buf, const std::string &depth, const std::string &components, float *dst,
                const OfxRectI &dstRect, const OfxRectI &window);
/// Box-filter downsample of RGBA float (w x h) by `scale` to (ceil(w*s) x ceil(h*s)).
std::vector<float> downsample(const std::vector<float> &src, int w, int h, double scale, int &outW, int &outH);

/// An image handed to the plugin; shares its pixels with the clip cache.
class Image : public OFX::Host::ImageEffect::Image {
public:
  Image(Clip &clip, const PixelBuffer &buf, const OfxRectI &rod, OfxPointD scale, const std::string &uid,
        ImageRegistry *registry);
  ~Image() override;
  void detach() { _registry = nullptr; }

private:
  std::shared_ptr<std::vector<unsigned char> > _bytes;
  ImageRegistry *_registry;
};

struct CacheSlot {
  std::mutex mutex;
  bool done = false;
  bool ok = false;
  std::string error;
  PixelBuffer buffer;  // the frame scaled and converted for the plugin
};

class Clip : public OFX::Host::ImageEffect::ClipInstance {
public:
  Clip(Effect *effect, OFX::Host::ImageEffect::ClipDescriptor *desc);
  ~Clip() override;

  void connect(const PxSource &src);
  void disconnect();
  bool connected() const { return _hasSource; }
  void setUnmappedDepth(const std::string &d) { _unmappedDepth = d; }
  void clearCache();
  bool sourceFrameRange(int &first, int &last) const;
  bool sourceSize(unsigned &w, unsigned &h) const;

  const std::string &getUnmappedBitDepth() const override;
  const std::string &getUnmappedComponents() const override;
  const std::string &getPremult() const override;
  double getAspectRatio() const override;
  double getFrameRate() const override;
  void getFrameRange(double &startFrame, double &endFrame) const override;
  const std::string &getFieldOrder() const override;
  bool getConnected() const override;
  double getUnmappedFrameRate() const override;
  void getUnmappedFrameRange(double &unmappedStartFrame, double &unmappedEndFrame) const override;
  bool getContinuousSamples() const override;
  OFX::Host::ImageEffect::Image *getImage(OfxTime time, const OfxRectD *optionalBounds) override;
  OfxRectD getRegionOfDefinition(OfxTime time) const override;

private:
  std::shared_ptr<CacheSlot> cacheSlot(const std::string &key);
  bool readFrame(int frame, std::vector<float> &pixels, std::string &error);
  std::shared_ptr<CacheSlot> convertedFrame(int frame, OfxPointD scale, const std::string &depth,
                                            const std::string &comps, bool topDown, int padding);

  Effect *_effect;
  PxSource _source;
  bool _hasSource;
  std::string _unmappedDepth;
  std::mutex _cacheMutex;
  std::map<std::string, std::shared_ptr<CacheSlot> > _cache;
  std::deque<std::string> _cacheOrder;
};

class Effect : public OFX::Host::ImageEffect::Instance {
public:
  Effect(OFX::Host::ImageEffect::ImageEffectPlugin *plugin, OFX::Host::ImageEffect::Descriptor &desc,
         const std::string &context, Profile profile);
  ~Effect() override;

  // ImageEffect::Instance
  const std::string &getDefaultOutputFielding() const override;
  OFX::Host::ImageEffect::ClipInstance *newClipInstance(OFX::Host::ImageEffect::Instance *plugin,
                                                        OFX::Host::ImageEffect::ClipDescriptor *descriptor,
                                                        int index) override;
  OfxStatus vmessage(const char *type, const char *id, const char *format, va_list args) override;
  OfxStatus setPersistentMessage(const char *type, const char *id, const char *format, va_list args) override;
  OfxStatus clearPersistentMessage() override;
  void getProjectSize(double &xSize, double &ySize) const override;
  void getProjectOffset(double &xOffset, double &yOffset) const override;
  void getProjectExtent(double &xSize, double &ySize) const override;
  double getProjectPixelAspectRatio() const override;
  double getEffectDuration() const override;
  double getFrameRate() const override;
  double getFrameRecursive() const override;
  void getRenderScaleRecursive(double &x, double &y) const override;
  int abort() override;
  OfxStatus getTimeDomainAction(OfxRangeD &range) override;

  // Param::SetInstance
  OFX::Host::Param::Instance *newParam(const std::string &name, OFX::Host::Param::Descriptor &descriptor) override;
  OfxStatus editBegin(const std::string &name) override;
  OfxStatus editEnd() override;

  // Progress::ProgressI
  void progressStart(const std::string &message, const std::string &messageid) override;
  void progressEnd() override;
  bool progressUpdate(double t) override;

  // TimeLine::TimeLineI
  double timeLineGetTime() override;
  void timeLineGotoTime(double t) override;
  void timeLineGetBounds(double &t1, double &t2) override;

  // host-side API
  void postMessage(int level, bool persistent, const std::string &text);
  std::vector<Message> messages();
  double progress() const { return _progress.load(); }
  void inputFrameRange(double &first, double &last) const;
  int setParam(const std::string &name, const std::string &value, std::string &err);
  int connect(const std::string &clip, const PxSource &src, std::string &err);
  int render(const int *frames, size_t n, const PxRenderOptions &opts, PxSink sink, void *sinkUser,
             std::string &err);
  const PxRenderOptions &options() const { return _opts; }
  /// The restricted profile: no temporal access, no frame ranges, whole frames at scale 1.
  bool restricted() const { return _profile == Profile::Restricted; }
  std::vector<PxFrameTiming> timings();
  Clip *clip(const std::string &name) const;
  std::vector<Clip *> clips() const;
  /// "WHAT (status): what the effect posted [host: what the host noted]"
  static std::string failureText(RenderJob &job, OfxStatus st, const std::string &what);

private:
  bool renderFrame(int frame, PxSink sink, void *sinkUser, std::string &err);

  std::mutex _msgMutex;
  std::vector<Message> _messages;
  std::atomic<double> _progress;
  std::atomic<bool> _cancelled;
  std::mutex _timingMutex;
  std::vector<PxFrameTiming> _timings;
  PxRenderOptions _opts;
  bool _sequential;
  Profile _profile;
};

/// Params: every host param class also implements this to be set from text
/// and shown as text.
class ParamValue {
public:
  virtual ~ParamValue() {}
  virtual std::string toString() const = 0;
  virtual std::string defaultString() const = 0;
  virtual bool fromString(const std::string &s, std::string &err) = 0;
};

OFX::Host::Param::Instance *makeParam(Effect *effect, const std::string &name, OFX::Host::Param::Descriptor &desc);
/// option labels and names of a choice param (names empty when not given)
void choiceOptions(const OFX::Host::Param::Instance *p, std::vector<std::string> &labels,
                   std::vector<std::string> &names);

std::recursive_mutex &globalMutex();

} // namespace px

#endif
