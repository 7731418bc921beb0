// Network interfaces for xendevd: bridge ports (SIOCBRADDIF, SIOCBRDELIF) and link up/down (SIOCGIFFLAGS, SIOCSIFFLAGS), by ioctl.
//
// Each call takes the rtnl lock in the kernel, which can wait behind other network work: they run
// in AsyncWorkers. Names are checked against IFNAMSIZ before they reach struct ifreq.

#include <net/if.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "addon.h"
#include "args.h"
#include "worker.h"

namespace lightvm {

namespace {

/** An interface name as the kernel takes it: 1 to IFNAMSIZ-1 bytes (checked by Args::String). */
constexpr size_t kMaxIfName = IFNAMSIZ - 1;

/** A socket for interface ioctls; any family reaches the device ioctls, AF_UNIX needs no protocol module. */
int IoctlSocket() { return socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

class BridgePortWorker : public XenWorker {
 public:
  BridgePortWorker(Napi::Env env, bool add, std::string bridge, std::string port)
      : XenWorker(env, add ? "netBridgeAddIf" : "netBridgeDelIf"), add_(add), bridge_(std::move(bridge)), port_(std::move(port)) {}

 private:
  void Run() override {
    unsigned int index = if_nametoindex(port_.c_str());
    if (index == 0) return Fail("if_nametoindex", port_);
    int s = IoctlSocket();
    if (s < 0) return Fail("socket", "AF_UNIX");
    struct ifreq ifr = {};
    memcpy(ifr.ifr_name, bridge_.data(), bridge_.size());  // size < IFNAMSIZ: the rest stays NUL
    ifr.ifr_ifindex = static_cast<int>(index);
    if (ioctl(s, add_ ? SIOCBRADDIF : SIOCBRDELIF, &ifr) != 0) Fail(add_ ? "SIOCBRADDIF" : "SIOCBRDELIF", bridge_ + " " + port_);
    close(s);
  }

  bool add_;
  std::string bridge_, port_;
};

class LinkUpWorker : public XenWorker {
 public:
  LinkUpWorker(Napi::Env env, std::string name, bool up) : XenWorker(env, "netLinkSetUp"), name_(std::move(name)), up_(up) {}

 private:
  void Run() override {
    int s = IoctlSocket();
    if (s < 0) return Fail("socket", "AF_UNIX");
    struct ifreq ifr = {};
    memcpy(ifr.ifr_name, name_.data(), name_.size());
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
      Fail("SIOCGIFFLAGS", name_);
    } else {
      short want = up_ ? static_cast<short>(ifr.ifr_flags | IFF_UP) : static_cast<short>(ifr.ifr_flags & ~IFF_UP);
      if (want != ifr.ifr_flags) {
        ifr.ifr_flags = want;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) Fail("SIOCSIFFLAGS", name_);
      }
    }
    close(s);
  }

  std::string name_;
  bool up_;
};

Napi::Value BridgePort(const Napi::CallbackInfo& info, bool add) {
  Args a(info, add ? "netBridgeAddIf" : "netBridgeDelIf");
  std::string bridge = a.String(a.At(0), "bridge", kMaxIfName, false);
  std::string port = a.String(a.At(1), "ifname", kMaxIfName, false);
  if (!a.ok()) return a.Reject();
  return (new BridgePortWorker(info.Env(), add, bridge, port))->Start();
}

/** netBridgeAddIf(bridge, ifname): makes ifname a port of bridge. */
Napi::Value BridgeAddIf(const Napi::CallbackInfo& info) { return BridgePort(info, true); }
/** netBridgeDelIf(bridge, ifname): takes ifname off bridge. */
Napi::Value BridgeDelIf(const Napi::CallbackInfo& info) { return BridgePort(info, false); }

/** netLinkSetUp(ifname, up): sets or clears IFF_UP (nothing is written when it already has that state). */
Napi::Value LinkSetUp(const Napi::CallbackInfo& info) {
  Args a(info, "netLinkSetUp");
  std::string name = a.String(a.At(0), "ifname", kMaxIfName, false);
  bool up = a.Bool(a.At(1), "up");
  if (!a.ok()) return a.Reject();
  return (new LinkUpWorker(info.Env(), name, up))->Start();
}

}  // namespace

void InitNetif(Napi::Env env, Napi::Object exports) {
  exports.Set("netBridgeAddIf", Napi::Function::New(env, BridgeAddIf, "netBridgeAddIf"));
  exports.Set("netBridgeDelIf", Napi::Function::New(env, BridgeDelIf, "netBridgeDelIf"));
  exports.Set("netLinkSetUp", Napi::Function::New(env, LinkSetUp, "netLinkSetUp"));
}

}  // namespace lightvm
