// The extern "C" boundary: plugin discovery, instance creation, params,
// clips and rendering. Every C++ exception is caught here.
#include <cstdlib>
#include <cstring>
#include <exception>

#include "px_internal.h"

namespace IE = OFX::Host::ImageEffect;

namespace {

/// A plugin cache whose search path we set ourselves (no OFX_PLUGIN_PATH,
/// no /usr/OFX/Plugins) when directories are given explicitly.
class OwnPluginCache : public OFX::Host::PluginCache {
public:
  void setPath(const std::vector<std::string> &dirs) {
    _pluginPath.clear();
    _nonrecursePath.clear();
    for (const std::string &d : dirs) {
      std::string dir = d;
      while (dir.size() > 1 && dir[dir.size() - 1] == '/') dir.erase(dir.size() - 1);
      const std::string suffix = ".ofx.bundle";
      if (dir.size() > suffix.size() && dir.compare(dir.size() - suffix.size(), suffix.size(), suffix) == 0) {
        // A bundle itself: scan its parent, without descending elsewhere.
        size_t slash = dir.rfind('/');
        std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
        _pluginPath.push_back(parent);
        _nonrecursePath.insert(parent);
      } else {
        _pluginPath.push_back(dir);
      }
    }
  }
};

char *dup(const std::string &s) {
  char *p = static_cast<char *>(malloc(s.size() + 1));
  if (!p) return nullptr;
  memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

void setErr(char **err, const std::string &msg) {
  if (err) *err = dup(msg);
}

/// Makes `job` the calling thread's current job while it lives: the suites find the effect, the
/// time and the posted messages through it.
struct JobScope {
  explicit JobScope(px::RenderJob &job) { px::tlsJob = &job; }
  ~JobScope() { px::tlsJob = nullptr; }
};

std::string currentException() {
  try {
    throw;
  } catch (const OFX::Host::Property::Exception &e) {
    return std::string("OpenFX property error (") + px::statusName(e.getStatus()) + ")";
  } catch (const std::exception &e) {
    return e.what();
  } catch (...) {
    return "unknown C++ exception";
  }
}

} // namespace

struct PxHost {
  px::HostDescriptor *desc = nullptr;
  OwnPluginCache *cache = nullptr;
  IE::PluginCache *effects = nullptr;
  std::vector<IE::ImageEffectPlugin *> plugins;
};

struct PxInstance {
  PxHost *host = nullptr;
  px::Effect *effect = nullptr;
};

/// Runs `call` (which returns 0, or non-zero with a message in its argument) on the instance's
/// effect under the host lock, as a job of that effect; an exception becomes "WHAT failed: why".
template <typename Call> int withEffect(PxInstance *pi, const std::string &what, char **err, Call call) {
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    std::string e;
    px::RenderJob job;
    job.effect = pi->effect;
    int rc;
    {
      JobScope scope(job);
      rc = call(e);
    }
    if (rc) setErr(err, e);
    return rc;
  } catch (...) {
    setErr(err, what + " failed: " + currentException());
    return 1;
  }
}

extern "C" {

void px_string_free(char *s) { free(s); }

PxHost *px_host_new(const char *const *dirs, size_t n, char **err) {
  return px_host_new2(dirs, n, PX_PROFILE_FULL, err);
}

PxHost *px_host_new2(const char *const *dirs, size_t n, int profile, char **err) {
  if (profile != PX_PROFILE_FULL && profile != PX_PROFILE_RESTRICTED) {
    setErr(err, "unknown host profile " + std::to_string(profile));
    return nullptr;
  }
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  PxHost *h = new (std::nothrow) PxHost();
  if (!h) {
    setErr(err, "out of memory");
    return nullptr;
  }
  try {
    std::string why;
    h->desc = px::HostDescriptor::open(profile == PX_PROFILE_RESTRICTED ? px::Profile::Restricted : px::Profile::Full,
                                       why);
    if (!h->desc) {
      setErr(err, why);
      delete h;
      return nullptr;
    }
    h->cache = new OwnPluginCache();
    h->effects = new IE::PluginCache(*h->desc);
    h->effects->registerInCache(*h->cache);
    if (n > 0) {
      std::vector<std::string> paths;
      for (size_t i = 0; i < n; ++i) paths.push_back(dirs[i] ? dirs[i] : "");
      h->cache->setPath(paths);
    }
    h->cache->scanPluginFiles();
    h->plugins = h->effects->getPlugins();
    return h;
  } catch (...) {
    setErr(err, "scanning for OpenFX plugins failed: " + currentException());
    px_host_free(h);
    return nullptr;
  }
}

void px_host_free(PxHost *h) {
  if (!h) return;
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    delete h->cache;  // owns the binaries and their plugins
    delete h->effects;
  } catch (...) {
  }
  delete h;
}

int px_host_effect_count(PxHost *h) { return h ? (int)h->plugins.size() : 0; }

char *px_host_effect_string(PxHost *h, int i, const char *key) {
  if (!h || i < 0 || i >= (int)h->plugins.size() || !key) return nullptr;
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    IE::ImageEffectPlugin *p = h->plugins[i];
    std::string k = key;
    if (k == "id") return dup(p->getIdentifier());
    if (k == "label") return dup(p->getDescriptor().getLabel());
    if (k == "group") return dup(p->getDescriptor().getPluginGrouping());
    if (k == "version") return dup(std::to_string(p->getVersionMajor()) + "." + std::to_string(p->getVersionMinor()));
    if (k == "contexts") {
      std::string s;
      for (const std::string &c : p->getContexts()) s += (s.empty() ? "" : ",") + c;
      return dup(s);
    }
    if (k == "bundle") return dup(p->getBinary()->getBundlePath());
    if (k == "file") return dup(p->getBinary()->getFilePath());
    return nullptr;
  } catch (...) {
    return nullptr;
  }
}

PxInstance *px_instance_new(PxHost *h, const char *effectId, char **err) {
  if (!h || !effectId) {
    setErr(err, "no host or effect id");
    return nullptr;
  }
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  px::Effect *effect = nullptr;
  try {
    IE::ImageEffectPlugin *plugin = h->effects->getPluginById(effectId);
    if (!plugin) {
      std::string known;
      for (IE::ImageEffectPlugin *p : h->plugins) known += (known.empty() ? "" : ", ") + p->getIdentifier();
      setErr(err, std::string("no OpenFX effect with id \"") + effectId + "\" was found (found: " +
                      (known.empty() ? "none" : known) + ")");
      return nullptr;
    }
    const std::set<std::string> &contexts = plugin->getContexts();
    std::string context;
    if (h->desc->profile() == px::Profile::Restricted) {
      // The restricted host offers only the filter context, even to effects that have general.
      if (!contexts.count(kOfxImageEffectContextFilter)) {
        std::string has;
        for (const std::string &c : contexts) has += (has.empty() ? "" : ", ") + c;
        setErr(err, std::string("effect ") + effectId +
                        " has no filter context, the only one the restricted host profile offers (it has: " +
                        (has.empty() ? "none" : has) + ")");
        return nullptr;
      }
      context = kOfxImageEffectContextFilter;
    } else if (contexts.count(kOfxImageEffectContextGeneral)) context = kOfxImageEffectContextGeneral;
    else if (contexts.count(kOfxImageEffectContextFilter)) context = kOfxImageEffectContextFilter;
    else {
      setErr(err, std::string("effect ") + effectId + " supports neither the general nor the filter context");
      return nullptr;
    }
    IE::Instance *inst = plugin->createInstance(context, nullptr);
    effect = dynamic_cast<px::Effect *>(inst);
    if (!effect) {
      delete inst;
      std::string msg = std::string("could not load effect ") + effectId + " (describe/load failed)";
      for (const px::Message &m : h->desc->hostMessages())
        if (m.level >= 3) msg += "; " + m.text;
      setErr(err, msg);
      return nullptr;
    }
    px::RenderJob job;
    job.effect = effect;
    OfxStatus st;
    {
      JobScope scope(job);
      st = effect->createInstanceAction();
    }
    if (st != kOfxStatOK && st != kOfxStatReplyDefault) {
      setErr(err, px::Effect::failureText(job, st, std::string("effect ") + effectId + " refused to create an instance"));
      delete effect;
      return nullptr;
    }
    PxInstance *pi = new PxInstance();
    pi->host = h;
    pi->effect = effect;
    return pi;
  } catch (...) {
    setErr(err, std::string("creating an instance of ") + effectId + " failed: " + currentException());
    delete effect;
    return nullptr;
  }
}

void px_instance_free(PxInstance *pi) {
  if (!pi) return;
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    delete pi->effect;
  } catch (...) {
  }
  delete pi;
}

char *px_instance_context(PxInstance *pi) { return pi ? dup(pi->effect->getContext()) : nullptr; }

char *px_instance_render_thread_safety(PxInstance *pi) {
  return pi ? dup(pi->effect->getRenderThreadSafety()) : nullptr;
}

int px_instance_supports_tiles(PxInstance *pi) { return pi && pi->effect->supportsTiles() ? 1 : 0; }

int px_instance_supports_multi_resolution(PxInstance *pi) {
  return pi && pi->effect->supportsMultiResolution() ? 1 : 0;
}

int px_instance_clip_count(PxInstance *pi) { return pi ? (int)pi->effect->clips().size() : 0; }

char *px_instance_clip_string(PxInstance *pi, int i, const char *key) {
  if (!pi || !key) return nullptr;
  try {
    // declaration order
    const std::vector<IE::ClipDescriptor *> &order = pi->effect->getDescriptor().getClipsByOrder();
    if (i < 0 || i >= (int)order.size()) return nullptr;
    px::Clip *c = pi->effect->clip(order[i]->getName());
    if (!c) return nullptr;
    std::string k = key;
    if (k == "name") return dup(c->getName());
    if (k == "label") return dup(c->getLabel());
    if (k == "optional") return dup(c->isOptional() ? "1" : "0");
    if (k == "mask") return dup(c->isMask() ? "1" : "0");
    if (k == "output") return dup(c->isOutput() ? "1" : "0");
    if (k == "connected") return dup(c->getConnected() ? "1" : "0");
    if (k == "depth") return dup(c->getPixelDepth());
    if (k == "components") return dup(c->getComponents());
    return nullptr;
  } catch (...) {
    return nullptr;
  }
}

int px_instance_param_count(PxInstance *pi) { return pi ? (int)pi->effect->getParamList().size() : 0; }

char *px_instance_param_string(PxInstance *pi, int i, const char *key) {
  if (!pi || !key) return nullptr;
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    const std::list<OFX::Host::Param::Instance *> &list = pi->effect->getParamList();
    if (i < 0 || i >= (int)list.size()) return nullptr;
    auto it = list.begin();
    std::advance(it, i);
    OFX::Host::Param::Instance *p = *it;
    px::ParamValue *v = dynamic_cast<px::ParamValue *>(p);
    std::string k = key;
    if (k == "name") return dup(p->getName());
    if (k == "type") return dup(p->getType());
    if (k == "label") return dup(p->getLabel());
    if (k == "hint") return dup(p->getHint());
    if (k == "parent") return dup(p->getParentName());
    if (k == "secret") return dup(p->getSecret() ? "1" : "0");
    if (k == "value") return v ? dup(v->toString()) : nullptr;
    if (k == "default") return v ? dup(v->defaultString()) : nullptr;
    if (k == "options" || k == "option_names") {
      std::vector<std::string> labels, names;
      px::choiceOptions(p, labels, names);
      const std::vector<std::string> &list2 = k == "options" ? labels : names;
      std::string s;
      for (size_t j = 0; j < list2.size(); ++j) s += (j ? "\x1f" : "") + list2[j];
      return dup(s);
    }
    return nullptr;
  } catch (...) {
    return nullptr;
  }
}

int px_instance_set_param(PxInstance *pi, const char *name, const char *value, char **err) {
  if (!pi || !name || !value) {
    setErr(err, "invalid arguments");
    return 1;
  }
  return withEffect(pi, std::string("setting param ") + name, err,
                    [&](std::string &e) { return pi->effect->setParam(name, value, e); });
}

int px_instance_connect(PxInstance *pi, const char *clip, PxSource src, char **err) {
  if (!pi || !clip || !src.frame_range || !src.size || !src.read) {
    if (src.release) src.release(src.user);
    setErr(err, "invalid arguments");
    return 1;
  }
  return withEffect(pi, std::string("connecting clip ") + clip, err,
                    [&](std::string &e) { return pi->effect->connect(clip, src, e); });
}

int px_instance_frames_needed(PxInstance *pi, double time, const char *clip, double *ranges, size_t cap,
                              size_t *n, char **err) {
  if (!pi || !clip || !n || (cap && !ranges)) {
    setErr(err, "invalid arguments");
    return 1;
  }
  if (pi->effect->restricted()) {
    setErr(err, "the restricted host profile never asks an effect which frames it needs (it has no temporal access)");
    return 1;
  }
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    OFX::Host::ImageEffect::RangeMap map;
    px::RenderJob job;
    job.effect = pi->effect;
    job.time = time;
    OfxStatus st;
    {
      JobScope scope(job);
      st = pi->effect->getFrameNeededAction(time, map);
    }
    if (st != kOfxStatOK && st != kOfxStatReplyDefault) {
      setErr(err, px::Effect::failureText(job, st, "the effect's frames-needed action failed"));
      return 1;
    }
    px::Clip *c = pi->effect->clip(clip);
    if (!c || c->isOutput()) {
      setErr(err, std::string("the effect has no input clip named \"") + clip + "\"");
      return 1;
    }
    *n = 0;
    auto it = map.find(c);
    if (it == map.end()) {
      // Not declared (or not trapped): the frame itself.
      if (cap) {
        ranges[0] = ranges[1] = time;
      }
      *n = 1;
      return 0;
    }
    for (const OfxRangeD &r : it->second) {
      if (*n < cap) {
        ranges[2 * *n] = r.min;
        ranges[2 * *n + 1] = r.max;
      }
      ++*n;
    }
    return 0;
  } catch (...) {
    setErr(err, std::string("the frames-needed action failed: ") + currentException());
    return 1;
  }
}

int px_instance_time_domain(PxInstance *pi, double *first, double *last, char **err) {
  if (!pi || !first || !last) {
    setErr(err, "invalid arguments");
    return 1;
  }
  if (pi->effect->restricted()) {
    setErr(err, "the restricted host profile never asks an effect for its time domain (it renders the input's frames)");
    return 1;
  }
  std::lock_guard<std::recursive_mutex> lock(px::globalMutex());
  try {
    OfxRangeD r = {0, 0};
    px::RenderJob job;
    job.effect = pi->effect;
    OfxStatus st;
    {
      JobScope scope(job);
      st = pi->effect->getTimeDomainAction(r);
    }
    if (st != kOfxStatOK) {
      setErr(err, px::Effect::failureText(job, st, "the effect's time-domain action failed"));
      return 1;
    }
    *first = r.min;
    *last = r.max;
    return 0;
  } catch (...) {
    setErr(err, "time domain failed: " + currentException());
    return 1;
  }
}

int px_instance_render(PxInstance *pi, const int *frames, size_t n, const PxRenderOptions *opts, PxSink sink,
                       void *sinkUser, char **err) {
  if (!pi || (!frames && n) || !opts) {
    setErr(err, "invalid arguments");
    return 1;
  }
  try {
    std::string e;
    int rc = pi->effect->render(frames, n, *opts, sink, sinkUser, e);
    if (rc) setErr(err, e);
    return rc;
  } catch (...) {
    px::tlsJob = nullptr;
    setErr(err, "render failed: " + currentException());
    return 1;
  }
}

size_t px_instance_render_timings(PxInstance *pi, PxFrameTiming *out, size_t cap) {
  if (!pi) return 0;
  try {
    std::vector<PxFrameTiming> t = pi->effect->timings();
    for (size_t i = 0; i < t.size() && i < cap && out; ++i) out[i] = t[i];
    return t.size();
  } catch (...) {
    return 0;
  }
}

int px_instance_message_count(PxInstance *pi) { return pi ? (int)pi->effect->messages().size() : 0; }

char *px_instance_message(PxInstance *pi, int i, int *level, int *persistent) {
  if (!pi) return nullptr;
  try {
    std::vector<px::Message> msgs = pi->effect->messages();
    if (i < 0 || i >= (int)msgs.size()) return nullptr;
    if (level) *level = msgs[i].level;
    if (persistent) *persistent = msgs[i].persistent ? 1 : 0;
    return dup(msgs[i].text);
  } catch (...) {
    return nullptr;
  }
}

double px_instance_progress(PxInstance *pi) { return pi ? pi->effect->progress() : 0.0; }

} // extern "C"
