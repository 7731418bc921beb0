// The addon's parts: each source file registers the JS functions of one Xen library.
#ifndef LIGHTVM_NATIVE_ADDON_H
#define LIGHTVM_NATIVE_ADDON_H

#include <napi.h>

namespace lightvm {

void InitXc(Napi::Env env, Napi::Object exports);        // xc.cc: libxenctrl
void InitXenguest(Napi::Env env, Napi::Object exports);  // xenguest.cc: libxenguest (PV build)
void InitXs(Napi::Env env, Napi::Object exports);        // xs.cc: libxenstore batches and domains
void InitXsWatch(Napi::Env env, Napi::Object exports);   // xs_watch.cc: libxenstore watches
void InitForeign(Napi::Env env, Napi::Object exports);   // foreign.cc: libxenforeignmemory
void InitEvtchn(Napi::Env env, Napi::Object exports);    // evtchn.cc: libxenevtchn
void InitSave(Napi::Env env, Napi::Object exports);      // save.cc: libxenguest save and restore streams
void InitUevent(Napi::Env env, Napi::Object exports);    // uevent.cc: kernel uevent socket (xendevd)
void InitDevctl(Napi::Env env, Napi::Object exports);    // devctl.cc: the noxs hypercall (libxencall)
void InitNetif(Napi::Env env, Napi::Object exports);     // netif.cc: bridge ports and link state by ioctl (xendevd)

}  // namespace lightvm

#endif
