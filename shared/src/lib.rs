//! Pixelspace core library (see module docs).
