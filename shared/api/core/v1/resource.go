package v1

import "k8s.io/apimachinery/pkg/api/resource"

// Name returns the quantity of name, or a zero quantity in format when absent. The result is a copy.
func (rl ResourceList) Name(name ResourceName, format resource.Format) *resource.Quantity {
	if q, ok := rl[name]; ok {
		c := q.DeepCopy()
		return &c
	}
	return &resource.Quantity{Format: format}
}

// Cpu returns the CPU quantity (zero, decimal SI, when absent).
func (rl ResourceList) Cpu() *resource.Quantity { return rl.Name(ResourceCPU, resource.DecimalSI) }

// Memory returns the memory quantity (zero, binary SI, when absent).
func (rl ResourceList) Memory() *resource.Quantity { return rl.Name(ResourceMemory, resource.BinarySI) }

// Storage returns the storage quantity (zero, binary SI, when absent).
func (rl ResourceList) Storage() *resource.Quantity {
	return rl.Name(ResourceStorage, resource.BinarySI)
}

// EphemeralStorage returns the ephemeral storage quantity (zero, binary SI, when absent).
func (rl ResourceList) EphemeralStorage() *resource.Quantity {
	return rl.Name(ResourceEphemeralStorage, resource.BinarySI)
}

// Pods returns the pod count (zero, decimal SI, when absent).
func (rl ResourceList) Pods() *resource.Quantity { return rl.Name(ResourcePods, resource.DecimalSI) }
