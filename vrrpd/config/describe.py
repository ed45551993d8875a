"""The resolved configuration in words, for ``vrrpd check-config``."""

from __future__ import annotations

from vrrpd.config.schema import Config, HealthCheckConfig, TrackInterface, TrackScript, TrackWeighted


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _describe_check(check: HealthCheckConfig) -> str:
    if check.tcp_port is not None:
        target = f"{check.host or '<interface primary address>'}:{check.tcp_port}"
        what = f"tcp connect {target}"
    else:
        what = f"script {check.script}"
    effect = "FAULT" if check.weight == 0 else f"priority -{check.weight}"
    return (
        f"{what} every {_seconds(check.interval)} (timeout {_seconds(check.timeout)}, "
        f"rise {check.rise}, fall {check.fall}) -> on failure: {effect}"
    )


_STATE_PROGRAMS = ("notify_master", "notify_backup", "notify_fault", "notify_stop")


def _tracked_script(config: Config, track: TrackScript) -> str:
    """ "chk (weight -20, every 2s: killall -0 haproxy)" — the weight this instance applies."""
    script = config.scripts[track.name]
    weight = track.weight if track.weight is not None else script.weight
    reverse = track.reverse if track.reverse is not None else script.weight_reverse
    effect = "FAULT while failing" if weight == 0 else f"weight {weight:+d}"
    return (
        f"{track.name} ({effect}{' reversed' if reverse else ''}, every {_seconds(script.interval)}: "
        f"{' '.join(script.script)})"
    )


def _tracked_file(config: Config, track: TrackWeighted) -> str:
    """ "fo (weight -10 × value, /run/fo)": the file's value times this instance's weight."""
    table = next(t for t in config.vrrp_track_file if t.name == track.name)
    weight, reverse = config.file_weight(track)
    effect = (
        "FAULT while not 0" if weight == 0 else f"weight {weight:+d} × value{' reversed' if reverse else ''}"
    )
    return f"{track.name} ({effect}, {table.file})"


def _tracked_process(config: Config, track: TrackWeighted) -> str:
    """ "haproxy (weight -20 while not running, 1..any of haproxy)" — up while within the quorum."""
    table = next(t for t in config.vrrp_track_process if t.name == track.name)
    weight, reverse = config.process_weight(track)
    effect = "FAULT while down" if weight == 0 else f"weight {weight:+d}{' reversed' if reverse else ''}"
    least, most = table.bounds
    count = "not running" if most == 0 else f"{least}..{'any' if most is None else most}"
    return f"{track.name} ({effect}, up with {count} of {' '.join((table.process, *table.parameters))})"


_NO_VIPS = "none (adverts carry no address; the notify program is expected to move the service address)"


def describe(config: Config) -> str:
    """The resolved configuration for ``check-config``; never includes the password itself."""
    g = config.global_
    lines = [
        f"config {config.source}",
        f"router_id {g.router_id}; control_socket {g.control_socket}; log_format {g.log_format}; "
        f"metrics {g.metrics_listen or 'off'}; notify_fifo {g.notify_fifo or 'off'}",
    ]
    for inst in config.vrrp_instance:
        priority = f"{inst.priority} (address owner)" if inst.is_owner else str(inst.priority)
        preempt = f"yes (delay {_seconds(inst.preempt_delay)})" if inst.preempt else "no"
        if inst.unicast_peer:
            src = inst.unicast_src_ip or "<interface primary address>"
            adverts = f"unicast to {', '.join(map(str, inst.unicast_peer))} from {src}"
        else:
            adverts = "multicast 224.0.0.18" if inst.family == 4 else "multicast ff02::12"
            if inst.mcast_src_ip is not None:
                adverts += f" from {inst.mcast_src_ip}"
        refresh = _seconds(inst.garp_master_refresh) if inst.garp_master_refresh else "off"
        auth = f"yes ({inst.auth_type or 'PASS'})" if inst.auth_pass is not None else "no"
        second = _seconds(inst.garp_master_delay) if inst.garp_master_delay else "none"
        lines += [
            f"instance {inst.name}: interface {inst.interface}, vrid {inst.virtual_router_id}, "
            f"priority {priority}, advert_int {_seconds(inst.advert_int)}, preempt {preempt}, "
            f"VRRPv{inst.version}",
            f"  vips: {', '.join(map(str, inst.virtual_ipaddress)) or _NO_VIPS}",
            *(
                [f"  excluded vips (not in adverts): {', '.join(map(str, inst.virtual_ipaddress_excluded))}"]
                if inst.virtual_ipaddress_excluded
                else []
            ),
            f"  auth: {auth}; adverts: {adverts}",
            f"  accept packets to the VIPs as master: {'yes' if inst.accept or inst.is_owner else 'no'}",
            f"  check: {_describe_check(inst.check) if inst.check else 'none'}",
            f"  notify: {_command(inst.notify)} (timeout {_seconds(inst.notify_timeout)})",
            f"  garp: {inst.garp_master_repeat} on becoming master, second burst after {second}, "
            f"refresh {refresh}",
            *(
                [
                    f"  virtual MAC: {inst.vmac_name} (macvlan on {inst.interface}, "
                    # RFC 3768 §7.3 / RFC 5798 §7.3: 00-00-5E-00-01-{VRID} for IPv4, -02- for IPv6
                    f"00:00:5e:00:0{1 if inst.family == 4 else 2}:{inst.virtual_router_id:02x}); "
                    f"adverts from {inst.interface if inst.vmac_xmit_base else inst.vmac_name}"
                ]
                if inst.use_vmac
                else []
            ),
            *(f"  route (while master): {route}" for route in inst.virtual_routes),
            *(f"  rule (while master): {rule}" for rule in inst.virtual_rules),
            *(
                [f"  tracks interfaces: {', '.join(_tracked_if(t) for t in inst.track_interface)}"]
                if inst.track_interface
                else []
            ),
            *(["  own interface down: no FAULT (dont_track_primary)"] if inst.dont_track_primary else []),
            *(
                [f"  tracks scripts: {', '.join(_tracked_script(config, t) for t in inst.track_script)}"]
                if inst.track_script
                else []
            ),
            *(
                [f"  tracks files: {', '.join(_tracked_file(config, t) for t in inst.track_file)}"]
                if inst.track_file
                else []
            ),
            *(
                [f"  tracks processes: {', '.join(_tracked_process(config, t) for t in inst.track_process)}"]
                if inst.track_process
                else []
            ),
            *([f"  {key}: {_command(getattr(inst, key))}" for key in _STATE_PROGRAMS if getattr(inst, key)]),
        ]
    for group in config.vrrp_sync_group:
        lines.append(
            f"sync group {group.name}: {', '.join(group.group)} change state together; "
            f"notify: {_command(group.notify)}"
        )
    return "\n".join(lines)


def _tracked_if(track: TrackInterface) -> str:
    if track.weight == 0:
        return f"{track.name} ({'FAULT while up' if track.reverse else 'FAULT while down'})"
    return f"{track.name} (weight {track.weight:+d}{', reverse' if track.reverse else ''})"


def _command(argv: tuple[str, ...] | None) -> str:
    return " ".join(argv) if argv else "none"
