// The effect instance and its clips: source images fetched lazily from the
// caller (cached per time, scale and depth), output images allocated per
// render window, messages/progress collected, and the render driver that
// honours the plugin's thread safety and tiling. The restricted profile
// narrows these to what MLT's host offers.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include "px_internal.h"

namespace px {

namespace IE = OFX::Host::ImageEffect;

static const double kFrameRate = 24.0;

static void note(const std::string &text) {
  if (tlsJob) {
    std::lock_guard<std::mutex> lock(tlsJob->notesMutex);
    tlsJob->notes.push_back(text);
  }
}

// ---- Clip --------------------------------------------------------------------

Clip::Clip(Effect *effect, IE::ClipDescriptor *desc)
    : IE::ClipInstance(effect, *desc), _effect(effect), _hasSource(false), _unmappedDepth(kOfxBitDepthFloat) {
  std::memset(&_source, 0, sizeof _source);
}

Clip::~Clip() { disconnect(); }

void Clip::connect(const PxSource &src) {
  disconnect();
  _source = src;
  _hasSource = true;
}

void Clip::disconnect() {
  clearCache();
  if (_hasSource && _source.release) _source.release(_source.user);
  std::memset(&_source, 0, sizeof _source);
  _hasSource = false;
}

void Clip::clearCache() {
  std::lock_guard<std::mutex> lock(_cacheMutex);
  _cache.clear();
  _cacheOrder.clear();
}

bool Clip::sourceFrameRange(int &first, int &last) const {
  if (!_hasSource) return false;
  first = last = 0;
  _source.frame_range(_source.user, &first, &last);
  return true;
}

bool Clip::sourceSize(unsigned &w, unsigned &h) const {
  if (!_hasSource) return false;
  w = h = 0;
  _source.size(_source.user, &w, &h);
  return true;
}

const std::string &Clip::getUnmappedBitDepth() const {
  static const std::string none(kOfxBitDepthNone);
  if (!isOutput() && !_hasSource) return none;
  return _unmappedDepth;
}

const std::string &Clip::getUnmappedComponents() const {
  static const std::string none(kOfxImageComponentNone), rgba(kOfxImageComponentRGBA);
  if (!isOutput() && !_hasSource) return none;
  return rgba;
}

const std::string &Clip::getPremult() const {
  static const std::string v(kOfxImageUnPreMultiplied);
  return v;
}

double Clip::getAspectRatio() const { return 1.0; }
double Clip::getFrameRate() const { return kFrameRate; }

void Clip::getFrameRange(double &startFrame, double &endFrame) const {
  // The restricted host never defines a clip's frame range: reading it fails as for an unknown
  // property (the property suite returns this status).
  if (_effect->restricted()) throw OFX::Host::Property::Exception(kOfxStatErrUnknown);
  int first, last;
  if (!isOutput() && sourceFrameRange(first, last)) {
    startFrame = first;
    endFrame = last;
  } else {
    _effect->inputFrameRange(startFrame, endFrame);
  }
}

const std::string &Clip::getFieldOrder() const {
  static const std::string v(kOfxImageFieldNone);
  return v;
}

bool Clip::getConnected() const { return isOutput() || _hasSource; }
double Clip::getUnmappedFrameRate() const { return kFrameRate; }
void Clip::getUnmappedFrameRange(double &a, double &b) const { getFrameRange(a, b); }
bool Clip::getContinuousSamples() const { return false; }

OfxRectD Clip::getRegionOfDefinition(OfxTime time) const {
  OfxRectD r = {0, 0, 0, 0};
  if (isOutput()) {
    try {
      OfxPointD s = {1, 1};
      return _effect->calcDefaultRegionOfDefinition(time, s);
    } catch (...) {
      return r;
    }
  }
  unsigned w, h;
  if (sourceSize(w, h)) {
    r.x2 = w;
    r.y2 = h;
  }
  return r;
}

// The cache entry for `key`, made empty if absent. The cache keeps the newest 4 + 2 x threads
// converted frames (what a render's frames-needed window and its worker threads reuse); an
// evicted entry lives on while a render still holds it.
std::shared_ptr<CacheSlot> Clip::cacheSlot(const std::string &key) {
  size_t cap = 4 + 2 * (size_t)std::max(1, _effect->options().threads);
  std::lock_guard<std::mutex> lock(_cacheMutex);
  auto it = _cache.find(key);
  if (it != _cache.end()) return it->second;
  auto slot = std::make_shared<CacheSlot>();
  _cache[key] = slot;
  _cacheOrder.push_back(key);
  while (_cacheOrder.size() > cap) {
    _cache.erase(_cacheOrder.front());
    _cacheOrder.pop_front();
  }
  return slot;
}

// Reads source frame `frame` at full resolution as RGBA floats; false with `error` set on failure.
// Not cached: only the converted frame is kept, so a frame costs the host one copy.
bool Clip::readFrame(int frame, std::vector<float> &pixels, std::string &error) {
  unsigned w = 0, h = 0;
  sourceSize(w, h);
  if (w == 0 || h == 0) {
    error = "clip " + getName() + " has an empty frame size";
    return false;
  }
  pixels.assign((size_t)w * h * 4, 0.0f);
  char err[1024];
  err[0] = 0;
  int rc = _source.read(_source.user, frame, pixels.data(), pixels.size(), err, sizeof err);
  if (rc != 0) {
    err[sizeof err - 1] = 0;
    error = "could not read frame " + std::to_string(frame) + " of clip " + getName() + ": " + err;
    pixels.clear();
    return false;
  }
  return true;
}

std::shared_ptr<CacheSlot> Clip::convertedFrame(int frame, OfxPointD scale, const std::string &depth,
                                                const std::string &comps, bool topDown, int padding) {
  std::ostringstream k;
  k.precision(17);
  k << "conv|" << frame << "|" << scale.x << "|" << depth << "|" << comps << "|" << topDown << "|" << padding;
  std::string key = k.str();
  std::shared_ptr<CacheSlot> slot = cacheSlot(key);
  std::lock_guard<std::mutex> lock(slot->mutex);
  if (!slot->done) {
    slot->done = true;
    std::vector<float> pixels;
    if (!readFrame(frame, pixels, slot->error)) return slot;
    unsigned w = 0, h = 0;
    sourceSize(w, h);
    int sw = (int)w, sh = (int)h;
    if (scale.x < 1.0) pixels = downsample(pixels, (int)w, (int)h, scale.x, sw, sh);
    OfxRectI bounds = {0, 0, sw, sh};
    slot->buffer = makeBuffer(pixels.data(), bounds, bounds, depth, comps, topDown, padding);
    slot->ok = true;
  }
  return slot;
}

IE::Image *Clip::getImage(OfxTime time, const OfxRectD *) {
  RenderJob *job = tlsJob;
  // Time spent here fetching, scaling and converting source frames counts as the host's,
  // not the plugin's, in the frame timings.
  struct FetchTimer {
    RenderJob *job;
    std::chrono::steady_clock::time_point start;
    ~FetchTimer() {
      if (job)
        job->fetchNanos += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
                               .count();
    }
  } fetchTimer = {isOutput() ? nullptr : job, std::chrono::steady_clock::now()};
  // The restricted host has no temporal access: whatever time is asked for, the clip gives the
  // frame being rendered (as MLT's host does).
  if (_effect->restricted() && job) time = job->time;
  std::ostringstream uid;
  uid << getName() << "@" << time;
  if (isOutput()) {
    if (!job || !job->output.bytes) {
      note("the output image was requested outside a render action");
      return nullptr;
    }
    return new Image(*this, job->output, job->rod, job->scale, uid.str(), job->registry);
  }
  if (!_hasSource) {
    note("clip " + getName() + " is not connected");
    return nullptr;
  }
  int first = 0, last = 0;
  sourceFrameRange(first, last);
  int frame = (int)std::floor(time + 0.5);
  if (frame < first || frame > last) {
    note("clip " + getName() + " has no frame " + std::to_string(frame) + " (it has frames " + std::to_string(first) +
         ".." + std::to_string(last) + ")");
    return nullptr;
  }
  const std::string &depth = getPixelDepth();
  const std::string &comps = getComponents();
  if (bytesPerComponent(depth) == 0 || componentCount(comps) == 0) {
    note("clip " + getName() + " has unsupported depth/components " + depth + "/" + comps);
    return nullptr;
  }
  OfxPointD scale = job ? job->scale : OfxPointD{1, 1};
  const PxRenderOptions &o = _effect->options();
  std::shared_ptr<CacheSlot> slot = convertedFrame(frame, scale, depth, comps, o.top_down != 0, o.row_padding);
  if (!slot->ok) {
    note(slot->error);
    return nullptr;
  }
  return new Image(*this, slot->buffer, slot->buffer.bounds, scale, uid.str(), job ? job->registry : nullptr);
}

// ---- Effect ------------------------------------------------------------------

Effect::Effect(IE::ImageEffectPlugin *plugin, IE::Descriptor &desc, const std::string &context, Profile profile)
    : IE::Instance(plugin, desc, context, false), _progress(0.0), _cancelled(false), _sequential(false),
      _profile(profile) {
  std::memset(&_opts, 0, sizeof _opts);
  _opts.depth = PX_DEPTH_FLOAT;
  _opts.scale = 1.0;
  _opts.threads = 1;
}

Effect::~Effect() {}

const std::string &Effect::getDefaultOutputFielding() const {
  static const std::string v(kOfxImageFieldNone);
  return v;
}

IE::ClipInstance *Effect::newClipInstance(IE::Instance *, IE::ClipDescriptor *descriptor, int) {
  return new Clip(this, descriptor);
}

void Effect::postMessage(int level, bool persistent, const std::string &text) {
  {
    std::lock_guard<std::mutex> lock(_msgMutex);
    if (_messages.size() > 1000) _messages.erase(_messages.begin());
    Message m = {level, persistent, text};
    _messages.push_back(m);
  }
  if (tlsJob && tlsJob->effect == this) {
    std::lock_guard<std::mutex> lock(tlsJob->notesMutex);
    tlsJob->posted.push_back(text);
  }
}

std::vector<Message> Effect::messages() {
  std::lock_guard<std::mutex> lock(_msgMutex);
  return _messages;
}

OfxStatus Effect::vmessage(const char *type, const char *, const char *fmt, va_list args) {
  int level = messageLevel(type);
  postMessage(level, false, format(fmt, args));
  // A batch host cannot ask the user: questions get the default reply.
  return level == 5 ? kOfxStatReplyDefault : kOfxStatOK;
}

OfxStatus Effect::setPersistentMessage(const char *type, const char *, const char *fmt, va_list args) {
  postMessage(messageLevel(type), true, format(fmt, args));
  return kOfxStatOK;
}

OfxStatus Effect::clearPersistentMessage() {
  std::lock_guard<std::mutex> lock(_msgMutex);
  _messages.erase(std::remove_if(_messages.begin(), _messages.end(), [](const Message &m) { return m.persistent; }),
                  _messages.end());
  return kOfxStatOK;
}

void Effect::getProjectSize(double &x, double &y) const { getProjectExtent(x, y); }
void Effect::getProjectOffset(double &x, double &y) const { x = y = 0; }

void Effect::getProjectExtent(double &x, double &y) const {
  x = 1920;
  y = 1080;
  for (Clip *c : clips()) {
    unsigned w, h;
    if (!c->isOutput() && c->sourceSize(w, h) && w && h) {
      x = w;
      y = h;
      return;
    }
  }
}

double Effect::getProjectPixelAspectRatio() const { return 1.0; }

void Effect::inputFrameRange(double &first, double &last) const {
  bool any = false;
  first = last = 0;
  for (Clip *c : clips()) {
    int a, b;
    if (!c->isOutput() && c->sourceFrameRange(a, b)) {
      if (!any || a < first) first = a;
      if (!any || b > last) last = b;
      any = true;
    }
  }
}

double Effect::getEffectDuration() const {
  double a, b;
  inputFrameRange(a, b);
  return b - a + 1;
}

double Effect::getFrameRate() const { return kFrameRate; }
double Effect::getFrameRecursive() const { return tlsJob ? tlsJob->time : 0.0; }

void Effect::getRenderScaleRecursive(double &x, double &y) const {
  x = tlsJob ? tlsJob->scale.x : 1.0;
  y = tlsJob ? tlsJob->scale.y : 1.0;
}

int Effect::abort() {
  if (_cancelled.load()) return 1;
  if (_opts.cancelled && _opts.cancelled(_opts.cancel_user)) {
    _cancelled = true;
    return 1;
  }
  return 0;
}

OfxStatus Effect::getTimeDomainAction(OfxRangeD &range) {
  OfxStatus st = kOfxStatReplyDefault;
  if (getContext() == kOfxImageEffectContextGeneral) st = IE::Instance::getTimeDomainAction(range);
  if (st == kOfxStatOK) return st;
  if (st != kOfxStatReplyDefault) return st;
  inputFrameRange(range.min, range.max);
  return kOfxStatOK;
}

OFX::Host::Param::Instance *Effect::newParam(const std::string &name, OFX::Host::Param::Descriptor &descriptor) {
  return makeParam(this, name, descriptor);
}

OfxStatus Effect::editBegin(const std::string &) { return kOfxStatOK; }
OfxStatus Effect::editEnd() { return kOfxStatOK; }

void Effect::progressStart(const std::string &message, const std::string &) {
  _progress = 0.0;
  if (!message.empty()) postMessage(0, false, "progress: " + message);
}
void Effect::progressEnd() { _progress = 1.0; }
bool Effect::progressUpdate(double t) {
  _progress = t;
  return abort() == 0;
}

double Effect::timeLineGetTime() { return tlsJob ? tlsJob->time : 0.0; }
void Effect::timeLineGotoTime(double) {}
void Effect::timeLineGetBounds(double &t1, double &t2) { inputFrameRange(t1, t2); }

Clip *Effect::clip(const std::string &name) const { return dynamic_cast<Clip *>(getClip(name)); }

std::vector<Clip *> Effect::clips() const {
  std::vector<Clip *> out;
  for (auto &kv : _clips) {
    Clip *c = dynamic_cast<Clip *>(kv.second);
    if (c) out.push_back(c);
  }
  return out;
}

static std::string clipNames(const Effect *e) {
  std::string s;
  for (Clip *c : e->clips()) {
    if (c->isOutput()) continue;
    if (!s.empty()) s += ", ";
    s += c->getName();
  }
  return s.empty() ? "none" : s;
}

int Effect::connect(const std::string &name, const PxSource &src, std::string &err) {
  Clip *c = clip(name);
  if (!c || c->isOutput()) {
    if (src.release) src.release(src.user);
    err = "effect " + getPlugin()->getIdentifier() + " has no input clip named \"" + name +
          "\" (its input clips: " + clipNames(this) + ")";
    return 1;
  }
  c->connect(src);
  OfxPointD one = {1, 1};
  beginInstanceChangedAction(kOfxChangeUserEdited);
  clipInstanceChangedAction(name, kOfxChangeUserEdited, 0, one);
  endInstanceChangedAction(kOfxChangeUserEdited);
  _clipPrefsDirty = true;
  return 0;
}

int Effect::setParam(const std::string &name, const std::string &value, std::string &err) {
  OFX::Host::Param::Instance *p = getParam(name);
  if (!p) {
    std::string names;
    for (auto *q : getParamList()) {
      if (!dynamic_cast<ParamValue *>(q)) continue;
      names += (names.empty() ? "" : ", ") + q->getName();
    }
    err = "effect " + getPlugin()->getIdentifier() + " has no param named \"" + name + "\" (its params: " +
          (names.empty() ? "none" : names) + ")";
    return 1;
  }
  ParamValue *v = dynamic_cast<ParamValue *>(p);
  if (!v) {
    err = "param " + name + " (" + p->getType() + ") holds no value";
    return 1;
  }
  std::string why;
  if (!v->fromString(value, why)) {
    err = "param " + name + ": " + why;
    return 1;
  }
  OfxPointD one = {1, 1};
  beginInstanceChangedAction(kOfxChangeUserEdited);
  paramInstanceChangedAction(name, kOfxChangeUserEdited, 0, one);
  endInstanceChangedAction(kOfxChangeUserEdited);
  _clipPrefsDirty = true;
  return 0;
}

std::string Effect::failureText(RenderJob &job, OfxStatus st, const std::string &what) {
  std::string s = what + " (" + statusName(st) + ")";
  std::lock_guard<std::mutex> lock(job.notesMutex);
  if (!job.posted.empty()) {
    s += ": ";
    for (size_t i = 0; i < job.posted.size(); ++i) s += (i ? "; " : "") + job.posted[i];
  }
  if (!job.notes.empty()) {
    s += " [host: ";
    for (size_t i = 0; i < job.notes.size(); ++i) s += (i ? "; " : "") + job.notes[i];
    s += "]";
  }
  return s;
}

static OfxRectI toPixels(const OfxRectD &r, OfxPointD s) {
  OfxRectI p;
  p.x1 = (int)std::floor(r.x1 * s.x + 1e-9);
  p.y1 = (int)std::floor(r.y1 * s.y + 1e-9);
  p.x2 = (int)std::ceil(r.x2 * s.x - 1e-9);
  p.y2 = (int)std::ceil(r.y2 * s.y - 1e-9);
  return p;
}

static std::mutex &unsafeRenderMutex() {
  static std::mutex m;
  return m;
}

std::vector<PxFrameTiming> Effect::timings() {
  std::lock_guard<std::mutex> lock(_timingMutex);
  return _timings;
}

static double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool Effect::renderFrame(int frame, PxSink sink, void *sinkUser, std::string &err) {
  std::chrono::steady_clock::time_point frameStart = std::chrono::steady_clock::now();
  double actionSeconds = 0.0;
  RenderJob job;
  ImageRegistry registry;
  job.effect = this;
  job.time = frame;
  job.scale.x = job.scale.y = _opts.scale;
  job.threads = (unsigned)_opts.threads;
  job.registry = &registry;
  RenderJob *saved = tlsJob;
  tlsJob = &job;
  struct Restore {
    RenderJob *s;
    ~Restore() { tlsJob = s; }
  } restore = {saved};

  std::string prefix = "frame " + std::to_string(frame) + ": ";
  OfxRectD rod = {0, 0, 0, 0};
  OfxStatus st;
  try {
    st = getRegionOfDefinitionAction(frame, job.scale, rod);
  } catch (...) {
    st = kOfxStatFailed;
  }
  if (st != kOfxStatOK && st != kOfxStatReplyDefault) {
    err = failureText(job, st, prefix + "the effect's region-of-definition action failed");
    return false;
  }
  OfxRectI win = toPixels(rod, job.scale);
  if (win.x2 <= win.x1 || win.y2 <= win.y1) {
    err = failureText(job, st, prefix + "the effect's region of definition is empty");
    return false;
  }
  job.rod = win;
  IE::ClipInstance *out = getClip(kOfxImageEffectOutputClipName);
  const std::string &depth = out->getPixelDepth();
  const std::string &comps = out->getComponents();
  int w = win.x2 - win.x1, h = win.y2 - win.y1;
  std::vector<float> rgba((size_t)w * h * 4, 0.0f);

  std::vector<OfxRectI> tiles;
  if (_opts.tile_width > 0 && _opts.tile_height > 0 && supportsTiles()) {
    for (int y = win.y1; y < win.y2; y += _opts.tile_height)
      for (int x = win.x1; x < win.x2; x += _opts.tile_width) {
        OfxRectI t = {x, y, std::min(x + _opts.tile_width, win.x2), std::min(y + _opts.tile_height, win.y2)};
        tiles.push_back(t);
      }
  } else {
    tiles.push_back(win);
  }

  for (const OfxRectI &tile : tiles) {
    if (abort()) {
      err = prefix + "render cancelled";
      return false;
    }
    job.window = tile;
    job.output = allocBuffer(tile, depth, comps, _opts.top_down != 0, _opts.row_padding);
    std::chrono::steady_clock::time_point actionStart = std::chrono::steady_clock::now();
    try {
      st = renderAction(frame, kOfxImageFieldNone, tile, job.scale, _sequential, false, false);
    } catch (...) {
      st = kOfxStatFailed;
    }
    actionSeconds += secondsSince(actionStart);
    registry.releaseAll();
    if (st != kOfxStatOK) {
      err = failureText(job, st, prefix + "the effect's render action failed");
      return false;
    }
    if (abort()) {
      err = prefix + "render cancelled";
      return false;
    }
    readBuffer(job.output, depth, comps, rgba.data(), win, tile);
  }
  job.output = PixelBuffer();
  tlsJob = saved;
  {
    PxFrameTiming timing = {frame, actionSeconds, job.fetchNanos.load() * 1e-9, secondsSince(frameStart)};
    std::lock_guard<std::mutex> lock(_timingMutex);
    _timings.push_back(timing);
  }

  char sinkErr[1024];
  sinkErr[0] = 0;
  if (sink && sink(sinkUser, frame, rgba.data(), (unsigned)w, (unsigned)h, sinkErr, sizeof sinkErr) != 0) {
    sinkErr[sizeof sinkErr - 1] = 0;
    err = prefix + sinkErr;
    return false;
  }
  return true;
}

int Effect::render(const int *frames, size_t n, const PxRenderOptions &opts, PxSink sink, void *sinkUser,
                   std::string &err) {
  if (n == 0) return 0;
  _opts = opts;
  if (_opts.threads < 1) _opts.threads = 1;
  if (!(_opts.scale > 0.0 && _opts.scale <= 1.0)) {
    err = "render scale must be in (0, 1], got " + std::to_string(opts.scale);
    return 1;
  }
  if (_opts.row_padding < 0) _opts.row_padding = 0;
  _cancelled = false;
  {
    std::lock_guard<std::mutex> lock(_timingMutex);
    _timings.clear();
  }
  const char *depth = opts.depth == PX_DEPTH_BYTE ? kOfxBitDepthByte
                      : opts.depth == PX_DEPTH_SHORT ? kOfxBitDepthShort : kOfxBitDepthFloat;
  for (Clip *c : clips()) {
    c->setUnmappedDepth(depth);
    c->clearCache();
  }
  for (Clip *c : clips()) {
    if (!c->isOutput() && !c->isOptional() && !c->connected()) {
      err = "clip " + c->getName() + " of effect " + getPlugin()->getIdentifier() +
            " must be connected before rendering";
      return 1;
    }
  }
  bool prefsOk;
  try {
    prefsOk = getClipPreferences();
  } catch (...) {
    prefsOk = false;
  }
  if (!prefsOk) {
    err = "the effect rejected its clip preferences";
    for (const Message &m : messages()) err += "; " + m.text;
    return 1;
  }
  IE::ClipInstance *out = getClip(kOfxImageEffectOutputClipName);
  if (!out || bytesPerComponent(out->getPixelDepth()) == 0 || componentCount(out->getComponents()) == 0) {
    err = "the effect's output clip has an unsupported format (" + (out ? out->getPixelDepth() : std::string("none")) +
          ", " + (out ? out->getComponents() : std::string("none")) + ")";
    return 1;
  }
  if (restricted()) {
    // No tiles and no render scales in this host: whole frames at full resolution.
    if (_opts.scale != 1.0) {
      err = "the restricted host profile renders at scale 1 only, got " + std::to_string(opts.scale);
      return 1;
    }
    _opts.tile_width = _opts.tile_height = 0;
  }
  if (_opts.scale != 1.0 && !supportsMultiResolution()) {
    err = "effect " + getPlugin()->getIdentifier() + " does not support render scales other than 1";
    return 1;
  }

  const std::string &safety = getRenderThreadSafety();
  bool fullySafe = safety == kOfxImageEffectRenderFullySafe;
  bool unsafe = safety == kOfxImageEffectRenderUnsafe;
  size_t workers = fullySafe ? std::min((size_t)_opts.threads, n) : 1;
  _sequential = workers == 1;
  int first = *std::min_element(frames, frames + n), last = *std::max_element(frames, frames + n);
  OfxPointD scale = {_opts.scale, _opts.scale};

  RenderJob beginJob;
  beginJob.effect = this;
  beginJob.time = first;
  beginJob.scale = scale;
  beginJob.threads = (unsigned)_opts.threads;
  tlsJob = &beginJob;
  OfxStatus st = beginRenderAction(first, last, 1, false, scale, _sequential, false);
  tlsJob = nullptr;
  if (st != kOfxStatOK && st != kOfxStatReplyDefault) {
    err = failureText(beginJob, st, "the effect's begin-render action failed");
    return 1;
  }

  std::atomic<size_t> next(0);
  std::atomic<bool> failed(false);
  std::mutex errMutex;
  std::string firstErr;
  auto work = [&]() {
    for (;;) {
      if (failed.load()) return;
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      std::string e;
      bool ok;
      try {
        if (unsafe) {
          std::lock_guard<std::mutex> lock(unsafeRenderMutex());
          ok = renderFrame(frames[i], sink, sinkUser, e);
        } else {
          ok = renderFrame(frames[i], sink, sinkUser, e);
        }
      } catch (const std::exception &ex) {
        ok = false;
        e = "frame " + std::to_string(frames[i]) + ": " + ex.what();
      } catch (...) {
        ok = false;
        e = "frame " + std::to_string(frames[i]) + ": unknown exception";
      }
      if (!ok) {
        std::lock_guard<std::mutex> lock(errMutex);
        if (!failed.exchange(true)) firstErr = e;
        return;
      }
    }
  };
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < workers; ++t) threads.emplace_back(work);
    for (auto &t : threads) t.join();
  }

  RenderJob endJob;
  endJob.effect = this;
  endJob.scale = scale;
  endJob.threads = (unsigned)_opts.threads;
  tlsJob = &endJob;
  st = endRenderAction(first, last, 1, false, scale, _sequential, false);
  tlsJob = nullptr;
  for (Clip *c : clips()) c->clearCache();
  if (failed) {
    err = firstErr;
    return 1;
  }
  if (st != kOfxStatOK && st != kOfxStatReplyDefault) {
    err = failureText(endJob, st, "the effect's end-render action failed");
    return 1;
  }
  return 0;
}

} // namespace px
