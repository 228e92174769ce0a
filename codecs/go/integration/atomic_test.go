package integration

import "sync/atomic"

type atomicBool = atomic.Bool
