package job

// HashPartition maps key to a partition in [0, r) with 32-bit FNV-1a, modulo r. The function is
// part of the wire contract: every process and every version must send a key to the same
// partition, so it must never change (and must not depend on Go's randomised map hashing).
// r < 1 is treated as 1.
func HashPartition(key []byte, r int) int {
	if r <= 1 {
		return 0
	}
	h := uint32(fnvOffset32)
	for _, c := range key {
		h ^= uint32(c)
		h *= fnvPrime32
	}
	return int(h % uint32(r))
}

// hashPartitionString is HashPartition for a string key, without converting it.
func hashPartitionString(key string, r int) int {
	if r <= 1 {
		return 0
	}
	h := uint32(fnvOffset32)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= fnvPrime32
	}
	return int(h % uint32(r))
}

const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)
