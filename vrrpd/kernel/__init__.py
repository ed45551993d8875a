"""The kernel interfaces: the raw VRRP socket, rtnetlink (pyroute2), gratuitous ARP, the firewall.

They know nothing of VRRP states; the runtime layer decides when to use them.
"""
