// Package v1 holds the batch/v1 API types: Job and CronJob, with Kubernetes's JSON field names and
// strategic-merge-patch tags, their constants and Default methods. Import it as batchv1. It does not
// validate (see shared/validation) and does not parse cron schedules.
package v1
