# Sourced by cross/build.sh and tests/bench/arm-size.sh: the qemu-user
# command that runs a target's binary. binfmt_misc is not mounted on the
# build machine, so qemu is named explicitly, with the board's CPU.
qemu_for() {
    case "$1" in
        aarch64-*) echo "qemu-aarch64-static -cpu cortex-a53" ;;
        armv7-*) echo "qemu-arm-static -cpu cortex-a7" ;;
        arm-*) echo "qemu-arm-static -cpu arm1176" ;;
        *) return 1 ;;
    esac
}
