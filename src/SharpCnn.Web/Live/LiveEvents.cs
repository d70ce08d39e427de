using System.Text.Json.Serialization;

namespace SharpCnn.Web.Live;

// The data of the events published while a run trains, as named types serialised by System.Text.Json's source
// generator (LiveJson): the same JSON as LiveEventLog.Json gives (snake_case names, nulls left out, declaration order),
// without reflection. Serialising anonymous types by reflection built their metadata and emitted accessors while
// training ran, and the runtime then recompiled hundreds of reflection and serializer methods at tier 1 on a thread
// of normal priority: about 1 s of CPU taken from training on a 2-core machine (docs/LIVE.md, "What the page costs").

/// <summary>The <c>step</c> event: the steps since the last one (their mean loss and accuracy).</summary>
internal sealed record StepEvent(long Step, long Epoch, long TotalSteps, double? Loss, double Accuracy, double? SamplesPerSecond, double? SecondsLeft, long Coalesced);

/// <summary>The <c>layers</c> event: one measurement of <see cref="SharpCnn.Training.LayerStatistics{T}"/>.</summary>
internal sealed record LayersEvent(long Step, LayerRow[] Layers, ParameterRow[] Parameters);

/// <summary>One layer's activation figures in a <see cref="LayersEvent"/>.</summary>
internal sealed record LayerRow(string Name, double? MeanAbs, double? MaxAbs, double? ZeroFraction);

/// <summary>One parameter tensor's figures in a <see cref="LayersEvent"/> (<see cref="Layer"/>: 1-based).</summary>
internal sealed record ParameterRow(string Name, int Layer, double? GradientNorm, double? UpdateRatio);

/// <summary>The <c>pictures</c> event: PNG data URLs.</summary>
internal sealed record PicturesEvent(long Step, string? Kernels, string FeatureMaps);

/// <summary>The <c>epoch</c> event.</summary>
internal sealed record EpochEvent(int Epoch, int Epochs, long Steps, double? TrainLoss, double? TrainAccuracy, string? HeldOut, double? HeldLoss,
    double? HeldAccuracy, double? Seconds, double? SamplesPerSecond, int[][]? Confusion);

/// <summary>The <c>paused</c> event.</summary>
internal sealed record PausedEvent(bool Paused);

/// <summary>The <c>stopping</c> event.</summary>
internal sealed record StoppingEvent(string Reason);

/// <summary>Serialisers of the events above, made at build time (the options of <see cref="LiveEventLog.Json"/>).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StepEvent))]
[JsonSerializable(typeof(LayersEvent))]
[JsonSerializable(typeof(PicturesEvent))]
[JsonSerializable(typeof(EpochEvent))]
[JsonSerializable(typeof(PausedEvent))]
[JsonSerializable(typeof(StoppingEvent))]
internal sealed partial class LiveJson : JsonSerializerContext;
