// Pixel buffers as plugins see them: depth conversion (byte/short/float),
// components (RGBA/RGB/Alpha), row order (bottom-up or top-down with negative
// rowBytes), row padding, and box-filter downsampling to a render scale.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "px_internal.h"

namespace px {

int bytesPerComponent(const std::string &depth) {
  if (depth == kOfxBitDepthByte) return 1;
  if (depth == kOfxBitDepthShort) return 2;
  if (depth == kOfxBitDepthHalf) return 2;
  if (depth == kOfxBitDepthFloat) return 4;
  return 0;
}

int componentCount(const std::string &components) {
  if (components == kOfxImageComponentRGBA) return 4;
  if (components == kOfxImageComponentRGB) return 3;
  if (components == kOfxImageComponentAlpha) return 1;
  return 0;
}

static inline int width(const OfxRectI &r) { return r.x2 - r.x1; }
static inline int height(const OfxRectI &r) { return r.y2 - r.y1; }

PixelBuffer allocBuffer(const OfxRectI &bounds, const std::string &depth, const std::string &components, bool topDown,
                        int padding) {
  PixelBuffer b;
  b.bounds = bounds;
  int bpp = bytesPerComponent(depth) * componentCount(components);
  int w = std::max(0, width(bounds)), h = std::max(0, height(bounds));
  int stride = w * bpp + std::max(0, padding);
  b.bytes = std::make_shared<std::vector<unsigned char> >((size_t)stride * (size_t)std::max(h, 1), 0);
  if (topDown) {
    b.offset = (long)stride * (long)std::max(h - 1, 0);
    b.rowBytes = -stride;
  } else {
    b.offset = 0;
    b.rowBytes = stride;
  }
  // Padding bytes are filled with a pattern so that a plugin ignoring
  // rowBytes shows up as garbage rather than passing by accident.
  if (padding > 0) {
    for (int row = 0; row < h; ++row) {
      unsigned char *p = b.bytes->data() + (size_t)row * stride + (size_t)w * bpp;
      std::memset(p, 0xCD, padding);
    }
  }
  return b;
}

static inline void storeComponent(unsigned char *p, int bpc, float v) {
  if (bpc == 1) {
    float s = std::round(std::min(1.0f, std::max(0.0f, v)) * 255.0f);
    *p = (unsigned char)s;
  } else if (bpc == 2) {
    float s = std::round(std::min(1.0f, std::max(0.0f, v)) * 65535.0f);
    unsigned short u = (unsigned short)s;
    std::memcpy(p, &u, 2);
  } else {
    std::memcpy(p, &v, 4);
  }
}

// Whole rows of RGBA at once: the same values as storeComponent and loadComponent, in loops the
// compiler can vectorise (std::round is a library call; for the non-negative clamped value,
// truncating and adding one when the rest is at least a half rounds the same way).
template <typename T> static void storeRowQuantised(unsigned char *dst, const float *src, size_t n, float scale) {
  for (size_t i = 0; i < n; ++i) {
    float s = std::min(1.0f, std::max(0.0f, src[i])) * scale;
    int q = (int)s;
    q += (s - (float)q >= 0.5f) ? 1 : 0;
    T u = (T)q;
    std::memcpy(dst + i * sizeof(T), &u, sizeof(T));
  }
}

static void storeRow(unsigned char *dst, const float *src, size_t n, int bpc) {
  if (bpc == 1) {
    storeRowQuantised<unsigned char>(dst, src, n, 255.0f);
  } else if (bpc == 2) {
    storeRowQuantised<unsigned short>(dst, src, n, 65535.0f);
  } else {
    std::memcpy(dst, src, n * sizeof(float));
  }
}

template <typename T> static void loadRowScaled(float *dst, const unsigned char *src, size_t n, float scale) {
  for (size_t i = 0; i < n; ++i) {
    T u;
    std::memcpy(&u, src + i * sizeof(T), sizeof(T));
    dst[i] = u / scale;
  }
}

static void loadRow(float *dst, const unsigned char *src, size_t n, int bpc) {
  if (bpc == 1) {
    loadRowScaled<unsigned char>(dst, src, n, 255.0f);
  } else if (bpc == 2) {
    loadRowScaled<unsigned short>(dst, src, n, 65535.0f);
  } else {
    std::memcpy(dst, src, n * sizeof(float));
  }
}

static inline float loadComponent(const unsigned char *p, int bpc) {
  if (bpc == 1) return *p / 255.0f;
  if (bpc == 2) {
    unsigned short u;
    std::memcpy(&u, p, 2);
    return u / 65535.0f;
  }
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

PixelBuffer makeBuffer(const float *rgba, const OfxRectI &srcRect, const OfxRectI &bounds, const std::string &depth,
                       const std::string &components, bool topDown, int padding) {
  PixelBuffer b = allocBuffer(bounds, depth, components, topDown, padding);
  int bpc = bytesPerComponent(depth);
  int nc = componentCount(components);
  int sw = width(srcRect);
  for (int y = bounds.y1; y < bounds.y2; ++y) {
    unsigned char *row = b.bytes->data() + b.offset + (long)(y - bounds.y1) * b.rowBytes;
    if (nc == 4 && y >= srcRect.y1 && y < srcRect.y2 && bounds.x1 >= srcRect.x1 && bounds.x2 <= srcRect.x2) {
      // The whole row lies inside the source: convert it in one run.
      const float *s = rgba + ((size_t)(y - srcRect.y1) * sw + (bounds.x1 - srcRect.x1)) * 4;
      storeRow(row, s, (size_t)width(bounds) * 4, bpc);
      continue;
    }
    for (int x = bounds.x1; x < bounds.x2; ++x) {
      unsigned char *px = row + (size_t)(x - bounds.x1) * nc * bpc;
      float v[4] = {0, 0, 0, 0};
      if (x >= srcRect.x1 && x < srcRect.x2 && y >= srcRect.y1 && y < srcRect.y2) {
        const float *s = rgba + ((size_t)(y - srcRect.y1) * sw + (x - srcRect.x1)) * 4;
        v[0] = s[0]; v[1] = s[1]; v[2] = s[2]; v[3] = s[3];
      }
      if (nc == 1) {
        storeComponent(px, bpc, v[3]);
      } else {
        for (int c = 0; c < nc; ++c) storeComponent(px + c * bpc, bpc, v[c]);
      }
    }
  }
  return b;
}

void readBuffer(const PixelBuffer &buf, const std::string &depth, const std::string &components, float *dst,
                const OfxRectI &dstRect, const OfxRectI &window) {
  int bpc = bytesPerComponent(depth);
  int nc = componentCount(components);
  int dw = width(dstRect);
  OfxRectI w = window;
  w.x1 = std::max(std::max(w.x1, buf.bounds.x1), dstRect.x1);
  w.y1 = std::max(std::max(w.y1, buf.bounds.y1), dstRect.y1);
  w.x2 = std::min(std::min(w.x2, buf.bounds.x2), dstRect.x2);
  w.y2 = std::min(std::min(w.y2, buf.bounds.y2), dstRect.y2);
  for (int y = w.y1; y < w.y2; ++y) {
    const unsigned char *row = buf.bytes->data() + buf.offset + (long)(y - buf.bounds.y1) * buf.rowBytes;
    if (nc == 4 && w.x2 > w.x1) {
      loadRow(dst + ((size_t)(y - dstRect.y1) * dw + (w.x1 - dstRect.x1)) * 4,
              row + (size_t)(w.x1 - buf.bounds.x1) * 4 * bpc, (size_t)(w.x2 - w.x1) * 4, bpc);
      continue;
    }
    for (int x = w.x1; x < w.x2; ++x) {
      const unsigned char *px = row + (size_t)(x - buf.bounds.x1) * nc * bpc;
      float *d = dst + ((size_t)(y - dstRect.y1) * dw + (x - dstRect.x1)) * 4;
      if (nc == 1) {
        float a = loadComponent(px, bpc);
        d[0] = d[1] = d[2] = d[3] = a;
      } else {
        for (int c = 0; c < nc; ++c) d[c] = loadComponent(px + c * bpc, bpc);
        if (nc == 3) d[3] = 1.0f;
      }
    }
  }
}

// Weights of source samples [i0, i0 + n) for each output sample of a box
// filter that maps output pixel X onto source interval [X/s, (X+1)/s).
struct Taps {
  std::vector<int> first;
  std::vector<std::vector<float> > weights;
};

static Taps boxTaps(int srcLen, int dstLen, double scale) {
  Taps t;
  t.first.resize(dstLen);
  t.weights.resize(dstLen);
  for (int X = 0; X < dstLen; ++X) {
    double a = X / scale, b = std::min((X + 1) / scale, (double)srcLen);
    int i0 = (int)std::floor(a), i1 = (int)std::ceil(b);
    i1 = std::min(i1, srcLen);
    t.first[X] = i0;
    double total = 0;
    for (int i = i0; i < i1; ++i) {
      double lo = std::max(a, (double)i), hi = std::min(b, (double)(i + 1));
      double w = std::max(0.0, hi - lo);
      t.weights[X].push_back((float)w);
      total += w;
    }
    if (total > 0)
      for (auto &w : t.weights[X]) w = (float)(w / total);
  }
  return t;
}

std::vector<float> downsample(const std::vector<float> &src, int w, int h, double scale, int &outW, int &outH) {
  outW = (int)std::ceil(w * scale - 1e-9);
  outH = (int)std::ceil(h * scale - 1e-9);
  if (scale >= 1.0 || (outW == w && outH == h)) {
    outW = w;
    outH = h;
    return src;
  }
  Taps tx = boxTaps(w, outW, scale), ty = boxTaps(h, outH, scale);
  std::vector<float> tmp((size_t)outW * h * 4, 0.0f);
  for (int y = 0; y < h; ++y) {
    const float *srow = src.data() + (size_t)y * w * 4;
    float *trow = tmp.data() + (size_t)y * outW * 4;
    for (int X = 0; X < outW; ++X) {
      float acc[4] = {0, 0, 0, 0};
      const std::vector<float> &ws = tx.weights[X];
      for (size_t k = 0; k < ws.size(); ++k) {
        const float *s = srow + (size_t)(tx.first[X] + k) * 4;
        for (int c = 0; c < 4; ++c) acc[c] += ws[k] * s[c];
      }
      for (int c = 0; c < 4; ++c) trow[X * 4 + c] = acc[c];
    }
  }
  std::vector<float> out((size_t)outW * outH * 4, 0.0f);
  for (int Y = 0; Y < outH; ++Y) {
    float *orow = out.data() + (size_t)Y * outW * 4;
    const std::vector<float> &ws = ty.weights[Y];
    for (size_t k = 0; k < ws.size(); ++k) {
      const float *trow = tmp.data() + (size_t)(ty.first[Y] + k) * outW * 4;
      for (int i = 0; i < outW * 4; ++i) orow[i] += ws[k] * trow[i];
    }
  }
  return out;
}

void ImageRegistry::add(Image *im) {
  std::lock_guard<std::mutex> lock(mutex);
  live.insert(im);
}

void ImageRegistry::remove(Image *im) {
  std::lock_guard<std::mutex> lock(mutex);
  live.erase(im);
}

void ImageRegistry::releaseAll() {
  std::set<Image *> left;
  {
    std::lock_guard<std::mutex> lock(mutex);
    left.swap(live);
  }
  for (Image *im : left) {
    im->detach();
    delete im;
  }
}

Image::Image(Clip &clip, const PixelBuffer &buf, const OfxRectI &rod, OfxPointD scale, const std::string &uid,
             ImageRegistry *registry)
    : OFX::Host::ImageEffect::Image(clip, scale.x, scale.y, buf.bytes->data() + buf.offset, buf.bounds, rod,
                                    buf.rowBytes, kOfxImageFieldNone, uid),
      _bytes(buf.bytes), _registry(registry) {
  if (_registry) _registry->add(this);
}

Image::~Image() {
  if (_registry) _registry->remove(this);
}

} // namespace px
