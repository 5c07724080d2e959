package v1

import (
	corev1 "github.com/skiffhq/skiff/shared/api/core/v1"
	metav1 "github.com/skiffhq/skiff/shared/api/meta/v1"
)

// Job runs pods until a number of them succeed.
type Job struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              JobSpec   `json:"spec,omitempty"`
	Status            JobStatus `json:"status,omitempty"`
}

// JobList is a list of jobs.
type JobList = metav1.List[Job]

// JobSpec is the desired state of a job.
type JobSpec struct {
	Parallelism             *int32                 `json:"parallelism,omitempty"`
	Completions             *int32                 `json:"completions,omitempty"`
	ActiveDeadlineSeconds   *int64                 `json:"activeDeadlineSeconds,omitempty"`
	PodFailurePolicy        *PodFailurePolicy      `json:"podFailurePolicy,omitempty"`
	SuccessPolicy           *SuccessPolicy         `json:"successPolicy,omitempty"`
	BackoffLimit            *int32                 `json:"backoffLimit,omitempty"`
	BackoffLimitPerIndex    *int32                 `json:"backoffLimitPerIndex,omitempty"`
	MaxFailedIndexes        *int32                 `json:"maxFailedIndexes,omitempty"`
	Selector                *metav1.LabelSelector  `json:"selector,omitempty"`
	ManualSelector          *bool                  `json:"manualSelector,omitempty"`
	Template                corev1.PodTemplateSpec `json:"template"`
	TTLSecondsAfterFinished *int32                 `json:"ttlSecondsAfterFinished,omitempty"`
	CompletionMode          *CompletionMode        `json:"completionMode,omitempty"`
	Suspend                 *bool                  `json:"suspend,omitempty"`
	PodReplacementPolicy    *PodReplacementPolicy  `json:"podReplacementPolicy,omitempty"`
	ManagedBy               *string                `json:"managedBy,omitempty"`
}

// CompletionMode is NonIndexed or Indexed.
type CompletionMode string

// The completion modes.
const (
	NonIndexedCompletion CompletionMode = "NonIndexed"
	IndexedCompletion    CompletionMode = "Indexed"
)

// PodReplacementPolicy is TerminatingOrFailed or Failed.
type PodReplacementPolicy string

// The pod replacement policies.
const (
	TerminatingOrFailed PodReplacementPolicy = "TerminatingOrFailed"
	Failed              PodReplacementPolicy = "Failed"
)

// PodFailurePolicy decides what a pod failure does to the job.
type PodFailurePolicy struct {
	Rules []PodFailurePolicyRule `json:"rules"`
}

// PodFailurePolicyAction is FailJob, FailIndex, Ignore or Count.
type PodFailurePolicyAction string

// PodFailurePolicyRule matches failed pods by exit codes or conditions.
type PodFailurePolicyRule struct {
	Action          PodFailurePolicyAction                   `json:"action"`
	OnExitCodes     *PodFailurePolicyOnExitCodesRequirement  `json:"onExitCodes,omitempty"`
	OnPodConditions []PodFailurePolicyOnPodConditionsPattern `json:"onPodConditions,omitempty"`
}

// PodFailurePolicyOnExitCodesRequirement matches container exit codes.
type PodFailurePolicyOnExitCodesRequirement struct {
	ContainerName *string                             `json:"containerName,omitempty"`
	Operator      PodFailurePolicyOnExitCodesOperator `json:"operator"`
	Values        []int32                             `json:"values"`
}

// PodFailurePolicyOnExitCodesOperator is In or NotIn.
type PodFailurePolicyOnExitCodesOperator string

// PodFailurePolicyOnPodConditionsPattern matches pod conditions.
type PodFailurePolicyOnPodConditionsPattern struct {
	Type   corev1.PodConditionType `json:"type"`
	Status corev1.ConditionStatus  `json:"status"`
}

// SuccessPolicy declares an indexed job succeeded early.
type SuccessPolicy struct {
	Rules []SuccessPolicyRule `json:"rules"`
}

// SuccessPolicyRule is one success rule.
type SuccessPolicyRule struct {
	SucceededIndexes *string `json:"succeededIndexes,omitempty"`
	SucceededCount   *int32  `json:"succeededCount,omitempty"`
}

// JobStatus is the observed state of a job.
type JobStatus struct {
	Conditions              []JobCondition           `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	StartTime               *metav1.Time             `json:"startTime,omitempty"`
	CompletionTime          *metav1.Time             `json:"completionTime,omitempty"`
	Active                  int32                    `json:"active,omitempty"`
	Succeeded               int32                    `json:"succeeded,omitempty"`
	Failed                  int32                    `json:"failed,omitempty"`
	Terminating             *int32                   `json:"terminating,omitempty"`
	CompletedIndexes        string                   `json:"completedIndexes,omitempty"`
	FailedIndexes           *string                  `json:"failedIndexes,omitempty"`
	UncountedTerminatedPods *UncountedTerminatedPods `json:"uncountedTerminatedPods,omitempty"`
	Ready                   *int32                   `json:"ready,omitempty"`
}

// UncountedTerminatedPods holds UIDs of finished pods not yet counted in the status.
type UncountedTerminatedPods struct {
	Succeeded []string `json:"succeeded,omitempty"`
	Failed    []string `json:"failed,omitempty"`
}

// JobConditionType is Suspended, Complete, Failed, FailureTarget or SuccessCriteriaMet.
type JobConditionType string

// The job condition types.
const (
	JobSuspended          JobConditionType = "Suspended"
	JobComplete           JobConditionType = "Complete"
	JobFailed             JobConditionType = "Failed"
	JobFailureTarget      JobConditionType = "FailureTarget"
	JobSuccessCriteriaMet JobConditionType = "SuccessCriteriaMet"
)

// Reasons of job conditions.
const (
	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"
	JobReasonCompletionsReached   = "CompletionsReached"
	JobReasonSuccessPolicy        = "SuccessPolicy"
	JobReasonPodFailurePolicy     = "PodFailurePolicy"
)

// JobCondition is one condition of a job.
type JobCondition struct {
	Type               JobConditionType       `json:"type"`
	Status             corev1.ConditionStatus `json:"status"`
	LastProbeTime      metav1.Time            `json:"lastProbeTime,omitempty"`
	LastTransitionTime metav1.Time            `json:"lastTransitionTime,omitempty"`
	Reason             string                 `json:"reason,omitempty"`
	Message            string                 `json:"message,omitempty"`
}

// JobTrackingFinalizer is the finalizer the job controller puts on its pods until it has counted them.
const JobTrackingFinalizer = "batch.kubernetes.io/job-tracking"

// The labels the job controller sets on its pods.
const (
	JobNameLabel                 = "batch.kubernetes.io/job-name"
	ControllerUIDLabel           = "batch.kubernetes.io/controller-uid"
	JobCompletionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
	LegacyJobNameLabel           = "job-name"
	LegacyControllerUIDLabel     = "controller-uid"
)

// CronJob creates Jobs on a schedule.
type CronJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              CronJobSpec   `json:"spec,omitempty"`
	Status            CronJobStatus `json:"status,omitempty"`
}

// CronJobList is a list of cron jobs.
type CronJobList = metav1.List[CronJob]

// CronJobSpec is the desired state of a cron job.
type CronJobSpec struct {
	Schedule                   string            `json:"schedule"`
	TimeZone                   *string           `json:"timeZone,omitempty"`
	StartingDeadlineSeconds    *int64            `json:"startingDeadlineSeconds,omitempty"`
	ConcurrencyPolicy          ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`
	Suspend                    *bool             `json:"suspend,omitempty"`
	JobTemplate                JobTemplateSpec   `json:"jobTemplate"`
	SuccessfulJobsHistoryLimit *int32            `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int32            `json:"failedJobsHistoryLimit,omitempty"`
}

// ConcurrencyPolicy is Allow, Forbid or Replace.
type ConcurrencyPolicy string

// The concurrency policies.
const (
	AllowConcurrent   ConcurrencyPolicy = "Allow"
	ForbidConcurrent  ConcurrencyPolicy = "Forbid"
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// JobTemplateSpec is the job a cron job creates.
type JobTemplateSpec struct {
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              JobSpec `json:"spec,omitempty"`
}

// CronJobStatus is the observed state of a cron job.
type CronJobStatus struct {
	Active             []corev1.ObjectReference `json:"active,omitempty"`
	LastScheduleTime   *metav1.Time             `json:"lastScheduleTime,omitempty"`
	LastSuccessfulTime *metav1.Time             `json:"lastSuccessfulTime,omitempty"`
}
