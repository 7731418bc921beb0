# xen.node: the only code of lightvm that calls Xen's libraries (built by scripts/build-native.sh).
{
  'targets': [
    {
      'target_name': 'xen',
      'sources': [
        'src/addon.cc',
        'src/args.cc',
        'src/devctl.cc',
        'src/errors.cc',
        'src/evtchn.cc',
        'src/foreign.cc',
        'src/handles.cc',
        'src/netif.cc',
        'src/save.cc',
        'src/uevent.cc',
        'src/uuid.cc',
        'src/xc.cc',
        'src/xenguest.cc',
        'src/xs.cc',
        'src/xs_watch.cc',
      ],
      'include_dirs': [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        # noxs.h: the ABI of the devctl hypercall, one copy for native/, guests/ and the Xen patches.
        '../xen-patches/include',
      ],
      # Errors travel as values (rejected promises), never as C++ exceptions.
      'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS'],
      # GNU dialect: Xen's public headers use anonymous unions and GCC attributes and refuse strict ISO mode.
      'cflags_cc': ['-std=gnu++17', '-Wall', '-Wextra'],
      'libraries': [
        '-lxencall',
        '-lxenctrl',
        '-lxenguest',
        '-lxenstore',
        '-lxenforeignmemory',
        '-lxenevtchn',
        '-lxentoollog',
      ],
    },
  ],
}
