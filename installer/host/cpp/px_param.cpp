// Param instances: values held by the host, initialised from the plugin's
// defaults, readable and writable by the plugin and settable from text.
#include <cctype>
#include <cstdarg>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <type_traits>

#include "px_internal.h"

namespace px {

namespace P = OFX::Host::Param;

static std::string trim(const std::string &s) {
  size_t a = 0, b = s.size();
  while (a < b && isspace((unsigned char)s[a])) ++a;
  while (b > a && isspace((unsigned char)s[b - 1])) --b;
  return s.substr(a, b - a);
}

static std::string lower(std::string s) {
  for (auto &c : s) c = (char)tolower((unsigned char)c);
  return s;
}

// "sRGB (display)" -> "srgbdisplay": used to match option names loosely.
static std::string slug(const std::string &s) {
  std::string out;
  for (char c : s)
    if (isalnum((unsigned char)c)) out += (char)tolower((unsigned char)c);
  return out;
}

static bool parseInt(const std::string &text, int &v) {
  std::string s = trim(text);
  if (s.empty()) return false;
  char *end = nullptr;
  errno = 0;
  long l = strtol(s.c_str(), &end, 10);
  if (errno || *end) return false;
  v = (int)l;
  return true;
}

static bool parseDouble(const std::string &text, double &v) {
  std::string s = trim(text);
  if (s.empty()) return false;
  char *end = nullptr;
  errno = 0;
  v = strtod(s.c_str(), &end);
  return !errno && !*end;
}

static bool parseBool(const std::string &text, bool &v) {
  std::string s = lower(trim(text));
  if (s == "1" || s == "true" || s == "yes" || s == "on") { v = true; return true; }
  if (s == "0" || s == "false" || s == "no" || s == "off") { v = false; return true; }
  return false;
}

static std::vector<std::string> splitList(const std::string &text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

static std::string num(double v) {
  std::ostringstream o;
  o.precision(17);
  o << v;
  return o.str();
}

/// N-component numeric values of int or double params.
template <typename T> struct Values {
  std::vector<T> v;
  static bool parse(const std::string &s, T &out);
  static std::string show(T x);
};
template <> bool Values<int>::parse(const std::string &s, int &out) { return parseInt(s, out); }
template <> bool Values<double>::parse(const std::string &s, double &out) { return parseDouble(s, out); }
template <> std::string Values<int>::show(int x) { return std::to_string(x); }
template <> std::string Values<double>::show(double x) { return num(x); }

template <typename T> static std::vector<T> defaults(P::Descriptor &d, int n) {
  std::vector<T> out(n);
  for (int i = 0; i < n; ++i) {
    if (std::is_same<T, int>::value)
      out[i] = (T)d.getProperties().getIntProperty(kOfxParamPropDefault, i);
    else
      out[i] = (T)d.getProperties().getDoubleProperty(kOfxParamPropDefault, i);
  }
  return out;
}

template <typename T> static std::string showN(const std::vector<T> &v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += Values<T>::show(v[i]);
  }
  return s;
}

template <typename T> static bool parseN(const std::string &text, std::vector<T> &v, std::string &err) {
  std::vector<std::string> parts = splitList(text);
  if (parts.size() != v.size()) {
    err = "expected " + std::to_string(v.size()) + " comma-separated values, got \"" + text + "\"";
    return false;
  }
  std::vector<T> nv(v.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!Values<T>::parse(parts[i], nv[i])) {
      err = "\"" + parts[i] + "\" is not a number";
      return false;
    }
  }
  v = nv;
  return true;
}

// ---- one-dimensional params ------------------------------------------------

/// One value of type T held by the host, the same at every time: the get/set half of the
/// integer, double, boolean and choice params.
template <typename Base, typename T> class OneValue : public Base, public ParamValue {
protected:
  T _v, _d;
public:
  OneValue(P::Descriptor &d, P::SetInstance *s, T initial) : Base(d, s), _v(initial), _d(initial) {}
  OfxStatus get(T &v) override { v = _v; return kOfxStatOK; }
  OfxStatus get(OfxTime, T &v) override { v = _v; return kOfxStatOK; }
  OfxStatus set(T v) override { _v = v; return kOfxStatOK; }
  OfxStatus set(OfxTime, T v) override { _v = v; return kOfxStatOK; }
};

static int intDefault(P::Descriptor &d) { return d.getProperties().getIntProperty(kOfxParamPropDefault); }

class IntParam : public OneValue<P::IntegerInstance, int> {
public:
  IntParam(P::Descriptor &d, P::SetInstance *s) : OneValue(d, s, intDefault(d)) {}
  std::string toString() const override { return std::to_string(_v); }
  std::string defaultString() const override { return std::to_string(_d); }
  bool fromString(const std::string &s, std::string &err) override {
    if (!parseInt(s, _v)) { err = "\"" + s + "\" is not an integer"; return false; }
    return true;
  }
};

class DoubleParam : public OneValue<P::DoubleInstance, double> {
public:
  DoubleParam(P::Descriptor &d, P::SetInstance *s)
      : OneValue(d, s, d.getProperties().getDoubleProperty(kOfxParamPropDefault)) {}
  OfxStatus derive(OfxTime, double &v) override { v = 0; return kOfxStatOK; }
  OfxStatus integrate(OfxTime t1, OfxTime t2, double &v) override { v = _v * (t2 - t1); return kOfxStatOK; }
  std::string toString() const override { return num(_v); }
  std::string defaultString() const override { return num(_d); }
  bool fromString(const std::string &s, std::string &err) override {
    double v;
    if (!parseDouble(s, v)) { err = "\"" + s + "\" is not a number"; return false; }
    _v = v;
    return true;
  }
};

class BoolParam : public OneValue<P::BooleanInstance, bool> {
public:
  BoolParam(P::Descriptor &d, P::SetInstance *s) : OneValue(d, s, intDefault(d) != 0) {}
  std::string toString() const override { return _v ? "true" : "false"; }
  std::string defaultString() const override { return _d ? "true" : "false"; }
  bool fromString(const std::string &s, std::string &err) override {
    if (!parseBool(s, _v)) { err = "\"" + s + "\" is not a boolean (true/false, 1/0, yes/no, on/off)"; return false; }
    return true;
  }
};

void choiceOptions(const P::Instance *p, std::vector<std::string> &labels, std::vector<std::string> &names) {
  const OFX::Host::Property::Set &props = p->getProperties();
  labels.clear();
  names.clear();
  int n = props.getDimension(kOfxParamPropChoiceOption);
  for (int i = 0; i < n; ++i) labels.push_back(props.getStringProperty(kOfxParamPropChoiceOption, i));
  int m = props.getDimension("OfxParamPropChoiceEnum");
  for (int i = 0; i < m; ++i) names.push_back(props.getStringProperty("OfxParamPropChoiceEnum", i));
}

class ChoiceParam : public OneValue<P::ChoiceInstance, int> {
public:
  ChoiceParam(P::Descriptor &d, P::SetInstance *s) : OneValue(d, s, intDefault(d)) {}
  std::string optionName(int i) const {
    std::vector<std::string> labels, names;
    choiceOptions(this, labels, names);
    if (i >= 0 && i < (int)names.size() && !names[i].empty()) return names[i];
    if (i >= 0 && i < (int)labels.size()) return labels[i];
    return std::to_string(i);
  }
  std::string toString() const override { return optionName(_v); }
  std::string defaultString() const override { return optionName(_d); }
  bool fromString(const std::string &text, std::string &err) override {
    std::vector<std::string> labels, names;
    choiceOptions(this, labels, names);
    std::string s = trim(text);
    // exact name, exact label, then case/punctuation-insensitive, then index
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == s) { _v = (int)i; return true; }
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == s) { _v = (int)i; return true; }
    int found = -1, count = 0;
    for (size_t i = 0; i < std::max(names.size(), labels.size()); ++i) {
      bool hit = (i < names.size() && slug(names[i]) == slug(s)) || (i < labels.size() && slug(labels[i]) == slug(s));
      if (hit && !slug(s).empty()) { if (found != (int)i) ++count; found = (int)i; }
    }
    if (count == 1) { _v = found; return true; }
    int idx;
    if (parseInt(s, idx) && idx >= 0 && idx < (int)labels.size()) { _v = idx; return true; }
    err = "\"" + text + "\" is not one of the options:";
    for (size_t i = 0; i < labels.size(); ++i) {
      std::string name = i < names.size() && !names[i].empty() ? names[i] : labels[i];
      err += (i ? ", " : " ") + name;
    }
    return false;
  }
};

/// Text held by the host: the string and custom params. A plugin reads the text through a
/// `const char*` the host keeps valid: HostSupport's own getV writes every read into one
/// buffer per param, which two render threads reading the param at once overwrite under each
/// other's feet (a path came back as garbage), so the reads point at the value itself, which
/// only changes between renders.
template <typename Base> class TextParam : public Base, public ParamValue {
  std::string _v, _d;
public:
  TextParam(P::Descriptor &d, P::SetInstance *s) : Base(d, s) {
    _v = _d = d.getProperties().getStringProperty(kOfxParamPropDefault);
  }
  OfxStatus getV(va_list arg) override {
    *va_arg(arg, const char **) = _v.c_str();
    return kOfxStatOK;
  }
  OfxStatus getV(OfxTime, va_list arg) override {
    *va_arg(arg, const char **) = _v.c_str();
    return kOfxStatOK;
  }
  OfxStatus get(std::string &v) override { v = _v; return kOfxStatOK; }
  OfxStatus get(OfxTime, std::string &v) override { v = _v; return kOfxStatOK; }
  OfxStatus set(const char *v) override { _v = v ? v : ""; return kOfxStatOK; }
  OfxStatus set(OfxTime, const char *v) override { _v = v ? v : ""; return kOfxStatOK; }
  std::string toString() const override { return _v; }
  std::string defaultString() const override { return _d; }
  bool fromString(const std::string &s, std::string &) override { _v = s; return true; }
};

// ---- multi-dimensional params ----------------------------------------------

#define PX_MULTI_COMMON(T, N)                                                            \
  std::vector<T> _v, _d;                                                                 \
  std::string toString() const override { return showN(_v); }                            \
  std::string defaultString() const override { return showN(_d); }                       \
  bool fromString(const std::string &s, std::string &err) override { return parseN(s, _v, err); }

class RGBAParam : public P::RGBAInstance, public ParamValue {
public:
  PX_MULTI_COMMON(double, 4)
  RGBAParam(P::Descriptor &d, P::SetInstance *s) : P::RGBAInstance(d, s) { _v = _d = defaults<double>(d, 4); }
  OfxStatus get(double &r, double &g, double &b, double &a) override { r = _v[0]; g = _v[1]; b = _v[2]; a = _v[3]; return kOfxStatOK; }
  OfxStatus get(OfxTime, double &r, double &g, double &b, double &a) override { return get(r, g, b, a); }
  OfxStatus set(double r, double g, double b, double a) override { _v = {r, g, b, a}; return kOfxStatOK; }
  OfxStatus set(OfxTime, double r, double g, double b, double a) override { return set(r, g, b, a); }
};

class RGBParam : public P::RGBInstance, public ParamValue {
public:
  PX_MULTI_COMMON(double, 3)
  RGBParam(P::Descriptor &d, P::SetInstance *s) : P::RGBInstance(d, s) { _v = _d = defaults<double>(d, 3); }
  OfxStatus get(double &r, double &g, double &b) override { r = _v[0]; g = _v[1]; b = _v[2]; return kOfxStatOK; }
  OfxStatus get(OfxTime, double &r, double &g, double &b) override { return get(r, g, b); }
  OfxStatus set(double r, double g, double b) override { _v = {r, g, b}; return kOfxStatOK; }
  OfxStatus set(OfxTime, double r, double g, double b) override { return set(r, g, b); }
};

class Double2DParam : public P::Double2DInstance, public ParamValue {
public:
  PX_MULTI_COMMON(double, 2)
  Double2DParam(P::Descriptor &d, P::SetInstance *s) : P::Double2DInstance(d, s) { _v = _d = defaults<double>(d, 2); }
  OfxStatus get(double &x, double &y) override { x = _v[0]; y = _v[1]; return kOfxStatOK; }
  OfxStatus get(OfxTime, double &x, double &y) override { return get(x, y); }
  OfxStatus set(double x, double y) override { _v = {x, y}; return kOfxStatOK; }
  OfxStatus set(OfxTime, double x, double y) override { return set(x, y); }
};

class Integer2DParam : public P::Integer2DInstance, public ParamValue {
public:
  PX_MULTI_COMMON(int, 2)
  Integer2DParam(P::Descriptor &d, P::SetInstance *s) : P::Integer2DInstance(d, s) { _v = _d = defaults<int>(d, 2); }
  OfxStatus get(int &x, int &y) override { x = _v[0]; y = _v[1]; return kOfxStatOK; }
  OfxStatus get(OfxTime, int &x, int &y) override { return get(x, y); }
  OfxStatus set(int x, int y) override { _v = {x, y}; return kOfxStatOK; }
  OfxStatus set(OfxTime, int x, int y) override { return set(x, y); }
};

class Double3DParam : public P::Double3DInstance, public ParamValue {
public:
  PX_MULTI_COMMON(double, 3)
  Double3DParam(P::Descriptor &d, P::SetInstance *s) : P::Double3DInstance(d, s) { _v = _d = defaults<double>(d, 3); }
  OfxStatus get(double &x, double &y, double &z) override { x = _v[0]; y = _v[1]; z = _v[2]; return kOfxStatOK; }
  OfxStatus get(OfxTime, double &x, double &y, double &z) override { return get(x, y, z); }
  OfxStatus set(double x, double y, double z) override { _v = {x, y, z}; return kOfxStatOK; }
  OfxStatus set(OfxTime, double x, double y, double z) override { return set(x, y, z); }
};

class Integer3DParam : public P::Integer3DInstance, public ParamValue {
public:
  PX_MULTI_COMMON(int, 3)
  Integer3DParam(P::Descriptor &d, P::SetInstance *s) : P::Integer3DInstance(d, s) { _v = _d = defaults<int>(d, 3); }
  OfxStatus get(int &x, int &y, int &z) override { x = _v[0]; y = _v[1]; z = _v[2]; return kOfxStatOK; }
  OfxStatus get(OfxTime, int &x, int &y, int &z) override { return get(x, y, z); }
  OfxStatus set(int x, int y, int z) override { _v = {x, y, z}; return kOfxStatOK; }
  OfxStatus set(OfxTime, int x, int y, int z) override { return set(x, y, z); }
};

P::Instance *makeParam(Effect *effect, const std::string &, P::Descriptor &d) {
  const std::string &t = d.getType();
  if (t == kOfxParamTypeInteger) return new IntParam(d, effect);
  if (t == kOfxParamTypeDouble) return new DoubleParam(d, effect);
  if (t == kOfxParamTypeBoolean) return new BoolParam(d, effect);
  if (t == kOfxParamTypeChoice) return new ChoiceParam(d, effect);
  if (t == kOfxParamTypeString) return new TextParam<P::StringInstance>(d, effect);
  if (t == kOfxParamTypeCustom) return new TextParam<P::CustomInstance>(d, effect);
  if (t == kOfxParamTypeRGBA) return new RGBAParam(d, effect);
  if (t == kOfxParamTypeRGB) return new RGBParam(d, effect);
  if (t == kOfxParamTypeDouble2D) return new Double2DParam(d, effect);
  if (t == kOfxParamTypeInteger2D) return new Integer2DParam(d, effect);
  if (t == kOfxParamTypeDouble3D) return new Double3DParam(d, effect);
  if (t == kOfxParamTypeInteger3D) return new Integer3DParam(d, effect);
  if (t == kOfxParamTypePushButton) return new P::PushbuttonInstance(d, effect);
  if (t == kOfxParamTypeGroup) return new P::GroupInstance(d, effect);
  if (t == kOfxParamTypePage) return new P::PageInstance(d, effect);
  return nullptr;
}

} // namespace px
