/* lwipopts.h: lwIP for lightvm's apps: IPv4, ARP, ICMP and TCP in the NO_SYS event-loop mode, sized for guests of a few MiB. */
#ifndef LVM_LWIPOPTS_H
#define LVM_LWIPOPTS_H

/* One thread, no OS: the app's loop drives lwIP (lvm_lwip_poll) and sleeps in lvm_wait. */
#define NO_SYS			1
#define SYS_LIGHTWEIGHT_PROT	0
#define LWIP_NETCONN		0
#define LWIP_SOCKET		0

#define LWIP_IPV4		1
#define LWIP_IPV6		0
#define LWIP_ARP		1
#define LWIP_ETHERNET		1
#define LWIP_ICMP		1
#define LWIP_TCP		1
#define LWIP_UDP		0
#define LWIP_RAW		0
#define LWIP_DHCP		0
#define LWIP_IGMP		0
#define LWIP_DNS		0
#define LWIP_SINGLE_NETIF	1
#define LWIP_STATS		0
#define LWIP_NETIF_LOOPBACK	0
#define IP_REASSEMBLY		0
#define IP_FRAG			0

/* Memory: lwIP's own heap and pools live in the image's .bss. */
#define MEM_ALIGNMENT		8
#define MEM_SIZE		(64 * 1024)
#define MEMP_NUM_PBUF		32
#define MEMP_NUM_TCP_PCB	32
#define MEMP_NUM_TCP_PCB_LISTEN	4
#define MEMP_NUM_TCP_SEG	64
#define PBUF_POOL_SIZE		48

#define TCP_MSS			1460
#define TCP_WND			(4 * TCP_MSS)
#define TCP_SND_BUF		(4 * TCP_MSS)
#define TCP_SND_QUEUELEN	(4 * TCP_SND_BUF / TCP_MSS)
#define LWIP_TCP_KEEPALIVE	0
/* lwIP's own timers plus a few for apps (daytime's peer retry). */
#define MEMP_NUM_SYS_TIMEOUT	(LWIP_NUM_SYS_TIMEOUT_INTERNAL + 4)

#endif
