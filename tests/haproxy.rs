//! HAProxy collector against a real HAProxy 2.6 and haproxy_exporter (in progress).
