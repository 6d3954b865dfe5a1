// The host descriptor: what this host tells plugins it supports (per profile),
// the message suite outside instances, and a real multithread suite on std::thread.
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <thread>

#include "ofxMultiThread.h"
#include "px_internal.h"

namespace px {

thread_local RenderJob *tlsJob = nullptr;
static thread_local unsigned tlsThreadIndex = 0;
static thread_local bool tlsSpawned = false;

std::recursive_mutex &globalMutex() {
  static std::recursive_mutex m;
  return m;
}

int messageLevel(const char *type) {
  if (!type) return 1;
  if (!strcmp(type, kOfxMessageLog)) return 0;
  if (!strcmp(type, kOfxMessageMessage)) return 1;
  if (!strcmp(type, kOfxMessageWarning)) return 2;
  if (!strcmp(type, kOfxMessageError)) return 3;
  if (!strcmp(type, kOfxMessageFatal)) return 4;
  if (!strcmp(type, kOfxMessageQuestion)) return 5;
  return 1;
}

const char *statusName(OfxStatus st) {
  switch (st) {
  case kOfxStatOK: return "kOfxStatOK";
  case kOfxStatFailed: return "kOfxStatFailed";
  case kOfxStatErrFatal: return "kOfxStatErrFatal";
  case kOfxStatErrUnknown: return "kOfxStatErrUnknown";
  case kOfxStatErrMissingHostFeature: return "kOfxStatErrMissingHostFeature";
  case kOfxStatErrUnsupported: return "kOfxStatErrUnsupported";
  case kOfxStatErrExists: return "kOfxStatErrExists";
  case kOfxStatErrFormat: return "kOfxStatErrFormat";
  case kOfxStatErrMemory: return "kOfxStatErrMemory";
  case kOfxStatErrBadHandle: return "kOfxStatErrBadHandle";
  case kOfxStatErrBadIndex: return "kOfxStatErrBadIndex";
  case kOfxStatErrValue: return "kOfxStatErrValue";
  case kOfxStatReplyYes: return "kOfxStatReplyYes";
  case kOfxStatReplyNo: return "kOfxStatReplyNo";
  case kOfxStatReplyDefault: return "kOfxStatReplyDefault";
  default: return "unknown status";
  }
}

std::string format(const char *fmt, va_list args) {
  if (!fmt) return std::string();
  va_list copy;
  va_copy(copy, args);
  char small[512];
  int n = vsnprintf(small, sizeof small, fmt, copy);
  va_end(copy);
  if (n < 0) return std::string(fmt);
  if (n < (int)sizeof small) return std::string(small, n);
  std::vector<char> big(n + 1);
  vsnprintf(big.data(), big.size(), fmt, args);
  return std::string(big.data(), n);
}

const char *profileName(Profile profile) { return profile == Profile::Restricted ? "restricted" : "full"; }

HostDescriptor *HostDescriptor::open(Profile profile, std::string &err) {
  std::lock_guard<std::recursive_mutex> lock(globalMutex());
  static HostDescriptor *host = nullptr;  // lives for the process: plugins keep its pointer
  if (!host) host = new HostDescriptor(profile);
  if (host->_profile != profile) {
    err = std::string("this process already runs the ") + profileName(host->_profile) +
          " host profile; plugins keep the host they were loaded by, so a " + profileName(profile) +
          " host needs a process of its own";
    return nullptr;
  }
  return host;
}

HostDescriptor::HostDescriptor(Profile profile) : _profile(profile) {
  // The restricted profile offers what MLT's host (Shotcut, Kdenlive) offers: the filter
  // context, no temporal clip access, no tiles, render scale 1 only.
  bool full = profile == Profile::Full;
  _properties.setStringProperty(kOfxPropName, "org.pixelspace.host");
  _properties.setStringProperty(kOfxPropLabel, "Pixelspace reference host");
  _properties.setIntProperty(kOfxPropAPIVersion, 1, 0);
  _properties.setIntProperty(kOfxPropAPIVersion, 4, 1);
  _properties.setIntProperty(kOfxPropVersion, 0, 0);
  _properties.setIntProperty(kOfxPropVersion, 1, 1);
  _properties.setIntProperty(kOfxPropVersion, 0, 2);
  _properties.setStringProperty(kOfxPropVersionLabel, "0.1.0");
  _properties.setIntProperty(kOfxImageEffectHostPropIsBackground, 1);
  _properties.setIntProperty(kOfxImageEffectPropSupportsOverlays, 0);
  _properties.setIntProperty(kOfxImageEffectPropSupportsMultiResolution, full ? 1 : 0);
  _properties.setIntProperty(kOfxImageEffectPropSupportsTiles, full ? 1 : 0);
  _properties.setIntProperty(kOfxImageEffectPropTemporalClipAccess, full ? 1 : 0);
  _properties.setStringProperty(kOfxImageEffectPropSupportedComponents, kOfxImageComponentRGBA, 0);
  _properties.setStringProperty(kOfxImageEffectPropSupportedComponents, kOfxImageComponentRGB, 1);
  _properties.setStringProperty(kOfxImageEffectPropSupportedComponents, kOfxImageComponentAlpha, 2);
  _properties.setStringProperty(kOfxImageEffectPropSupportedPixelDepths, kOfxBitDepthByte, 0);
  _properties.setStringProperty(kOfxImageEffectPropSupportedPixelDepths, kOfxBitDepthShort, 1);
  _properties.setStringProperty(kOfxImageEffectPropSupportedPixelDepths, kOfxBitDepthFloat, 2);
  if (full) {
    _properties.setStringProperty(kOfxImageEffectPropSupportedContexts, kOfxImageEffectContextGeneral, 0);
    _properties.setStringProperty(kOfxImageEffectPropSupportedContexts, kOfxImageEffectContextFilter, 1);
  } else {
    _properties.setStringProperty(kOfxImageEffectPropSupportedContexts, kOfxImageEffectContextFilter, 0);
  }
  _properties.setIntProperty(kOfxImageEffectPropSupportsMultipleClipDepths, 1);
  _properties.setIntProperty(kOfxImageEffectPropSupportsMultipleClipPARs, 0);
  _properties.setIntProperty(kOfxImageEffectPropSetableFrameRate, 0);
  _properties.setIntProperty(kOfxImageEffectPropSetableFielding, 0);
  _properties.setIntProperty(kOfxParamHostPropSupportsCustomInteract, 0);
  _properties.setIntProperty(kOfxParamHostPropSupportsStringAnimation, 0);
  _properties.setIntProperty(kOfxParamHostPropSupportsChoiceAnimation, 0);
  _properties.setIntProperty(kOfxParamHostPropSupportsBooleanAnimation, 0);
  _properties.setIntProperty(kOfxParamHostPropSupportsCustomAnimation, 0);
  _properties.setIntProperty(kOfxParamHostPropMaxParameters, -1);
  _properties.setIntProperty(kOfxParamHostPropMaxPages, 0);
  _properties.setIntProperty(kOfxParamHostPropPageRowColumnCount, 0, 0);
  _properties.setIntProperty(kOfxParamHostPropPageRowColumnCount, 0, 1);
  // OFX 1.2+: a batch host renders frames in order when asked to.
  _properties.setIntProperty(kOfxImageEffectInstancePropSequentialRender, 2);
}

OFX::Host::ImageEffect::Instance *HostDescriptor::newInstance(void *, OFX::Host::ImageEffect::ImageEffectPlugin *plugin,
                                                              OFX::Host::ImageEffect::Descriptor &desc,
                                                              const std::string &context) {
  return new Effect(plugin, desc, context, _profile);
}

OFX::Host::ImageEffect::Descriptor *HostDescriptor::makeDescriptor(OFX::Host::ImageEffect::ImageEffectPlugin *plugin) {
  return new EffectDescriptor(plugin);
}

OFX::Host::ImageEffect::Descriptor *HostDescriptor::makeDescriptor(const OFX::Host::ImageEffect::Descriptor &root,
                                                                   OFX::Host::ImageEffect::ImageEffectPlugin *plugin) {
  return new EffectDescriptor(root, plugin);
}

OFX::Host::ImageEffect::Descriptor *HostDescriptor::makeDescriptor(const std::string &bundlePath,
                                                                   OFX::Host::ImageEffect::ImageEffectPlugin *plugin) {
  return new EffectDescriptor(bundlePath, plugin);
}

OFX::Host::Param::Descriptor *EffectDescriptor::paramDefine(const char *paramType, const char *name) {
  OFX::Host::Param::Descriptor *d = Descriptor::paramDefine(paramType, name);
  if (d && paramType && !strcmp(paramType, kOfxParamTypeChoice) &&
      !d->getProperties().fetchProperty("OfxParamPropChoiceEnum")) {
    OFX::Host::Property::PropSpec spec = {"OfxParamPropChoiceEnum", OFX::Host::Property::eString, 0, false, ""};
    d->getProperties().createProperty(spec);
  }
  return d;
}

std::vector<Message> HostDescriptor::hostMessages() {
  std::lock_guard<std::mutex> lock(_msgMutex);
  return _messages;
}

OfxStatus HostDescriptor::vmessage(const char *type, const char *, const char *fmt, va_list args) {
  Message m;
  m.level = messageLevel(type);
  m.persistent = false;
  m.text = format(fmt, args);
  // Route to the instance whose action is running on this thread, if any.
  if (tlsJob && tlsJob->effect) {
    tlsJob->effect->postMessage(m.level, false, m.text);
  } else {
    std::lock_guard<std::mutex> lock(_msgMutex);
    if (_messages.size() > 1000) _messages.erase(_messages.begin());
    _messages.push_back(m);
  }
  return m.level == 5 ? kOfxStatReplyDefault : kOfxStatOK;
}

OfxStatus HostDescriptor::setPersistentMessage(const char *type, const char *id, const char *fmt, va_list args) {
  return vmessage(type, id, fmt, args);
}

OfxStatus HostDescriptor::clearPersistentMessage() { return kOfxStatOK; }

OfxStatus HostDescriptor::multiThread(OfxThreadFunctionV1 func, unsigned int nThreads, void *customArg) {
  if (!func) return kOfxStatFailed;
  if (nThreads == 0) nThreads = 1;
  if (tlsSpawned || nThreads == 1) {
    // Nested calls run on the calling thread, as the spec allows.
    for (unsigned i = 0; i < nThreads; ++i) {
      try {
        func(i, nThreads, customArg);
      } catch (...) {
        return kOfxStatFailed;
      }
    }
    return kOfxStatOK;
  }
  RenderJob *job = tlsJob;
  std::atomic<bool> failed(false);
  std::vector<std::thread> threads;
  threads.reserve(nThreads);
  for (unsigned i = 0; i < nThreads; ++i) {
    threads.emplace_back([=, &failed]() {
      tlsJob = job;
      tlsSpawned = true;
      tlsThreadIndex = i;
      try {
        func(i, nThreads, customArg);
      } catch (...) {
        failed = true;
      }
    });
  }
  for (auto &t : threads) t.join();
  return failed ? kOfxStatFailed : kOfxStatOK;
}

OfxStatus HostDescriptor::multiThreadNumCPUS(unsigned int *nCPUs) const {
  if (!nCPUs) return kOfxStatFailed;
  unsigned n = tlsJob ? tlsJob->threads : std::thread::hardware_concurrency();
  *nCPUs = n ? n : 1;
  return kOfxStatOK;
}

OfxStatus HostDescriptor::multiThreadIndex(unsigned int *threadIndex) const {
  if (!threadIndex) return kOfxStatFailed;
  *threadIndex = tlsSpawned ? tlsThreadIndex : 0;
  return kOfxStatOK;
}

int HostDescriptor::multiThreadIsSpawnedThread() const { return tlsSpawned ? 1 : 0; }

OfxStatus HostDescriptor::mutexCreate(OfxMutexHandle *mutex, int lockCount) {
  if (!mutex) return kOfxStatFailed;
  std::recursive_mutex *m = new std::recursive_mutex();
  for (int i = 0; i < lockCount; ++i) m->lock();
  *mutex = reinterpret_cast<OfxMutexHandle>(m);
  return kOfxStatOK;
}

OfxStatus HostDescriptor::mutexDestroy(const OfxMutexHandle mutex) {
  if (!mutex) return kOfxStatErrBadHandle;
  delete reinterpret_cast<std::recursive_mutex *>(mutex);
  return kOfxStatOK;
}

OfxStatus HostDescriptor::mutexLock(const OfxMutexHandle mutex) {
  if (!mutex) return kOfxStatErrBadHandle;
  reinterpret_cast<std::recursive_mutex *>(mutex)->lock();
  return kOfxStatOK;
}

OfxStatus HostDescriptor::mutexUnLock(const OfxMutexHandle mutex) {
  if (!mutex) return kOfxStatErrBadHandle;
  reinterpret_cast<std::recursive_mutex *>(mutex)->unlock();
  return kOfxStatOK;
}

OfxStatus HostDescriptor::mutexTryLock(const OfxMutexHandle mutex) {
  if (!mutex) return kOfxStatErrBadHandle;
  return reinterpret_cast<std::recursive_mutex *>(mutex)->try_lock() ? kOfxStatOK : kOfxStatFailed;
}

} // namespace px
