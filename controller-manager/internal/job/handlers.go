package job

import (
	batchv1 "github.com/skiffhq/skiff/shared/api/batch/v1"

	"github.com/skiffhq/skiff/controller-manager/internal/controller"
)

// OnJobChange queues a job that was added, updated or deleted.
func (c *Controller) OnJobChange(j *batchv1.Job) { c.Queue.Add(controller.KeyOf(&j.ObjectMeta)) }
