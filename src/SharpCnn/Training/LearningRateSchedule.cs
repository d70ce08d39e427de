using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SharpCnn.Training;

/// <summary>How the learning rate changes during training.</summary>
public enum ScheduleKind
{
    /// <summary>η_t = η.</summary>
    Constant,

    /// <summary>Cosine decay to 0 over the run: η_t = η · ½ (1 + cos(π t / T)).</summary>
    Cosine,

    /// <summary>Step decay: η_t = η · f^⌊t / (E · S)⌋ (times f every E epochs of S steps).</summary>
    Step,
}

/// <summary>
/// A learning-rate schedule: the rate of step t (0-based, the optimiser's step count
/// before the step) as a pure function of t, the base rate η, the steps per epoch S and the
/// run's total steps T. Being a function of the step count alone, it needs no state of its
/// own: a run resumed at step t continues with exactly the rate it would have had.
/// Text forms (CLI <c>--lr-schedule</c>): <c>constant</c>, <c>cosine</c>, <c>step:{E}:{f}</c>
/// (e.g. <c>step:10:0.1</c>: times 0.1 every 10 epochs). In JSON (checkpoints) it is the text form.
/// </summary>
[JsonConverter(typeof(LearningRateScheduleJsonConverter))]
public sealed record LearningRateSchedule
{
    private LearningRateSchedule(ScheduleKind kind, int everyEpochs, double factor)
    {
        Kind = kind;
        EveryEpochs = everyEpochs;
        Factor = factor;
    }

    /// <summary>The constant rate (the default).</summary>
    public static LearningRateSchedule Constant { get; } = new(ScheduleKind.Constant, 0, 1);

    /// <summary>Cosine decay from η to 0 over the run.</summary>
    public static LearningRateSchedule Cosine { get; } = new(ScheduleKind.Cosine, 0, 1);

    /// <summary>Multiply the rate by <paramref name="factor"/> every <paramref name="everyEpochs"/> epochs.</summary>
    public static LearningRateSchedule StepDecay(int everyEpochs, double factor)
    {
        if (everyEpochs < 1) throw new ArgumentOutOfRangeException(nameof(everyEpochs), everyEpochs, "a step schedule needs at least 1 epoch between decays");
        if (!(factor > 0 && factor <= 1)) throw new ArgumentOutOfRangeException(nameof(factor), factor, "a step schedule's factor must be in (0, 1]");
        return new(ScheduleKind.Step, everyEpochs, factor);
    }

    /// <summary>Which schedule.</summary>
    public ScheduleKind Kind { get; }

    /// <summary>E, epochs between decays (step schedule only).</summary>
    public int EveryEpochs { get; }

    /// <summary>f, the decay factor (step schedule only).</summary>
    public double Factor { get; }

    /// <summary>The rate of step <paramref name="step"/> (0-based).</summary>
    /// <param name="baseRate">η, the rate the run was started with.</param>
    /// <param name="step">t, steps taken before this one.</param>
    /// <param name="stepsPerEpoch">S, steps in one epoch.</param>
    /// <param name="totalSteps">T, steps in the whole run.</param>
    public double Rate(double baseRate, long step, long stepsPerEpoch, long totalSteps) => Kind switch
    {
        ScheduleKind.Cosine => baseRate * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(step, totalSteps) / Math.Max(totalSteps, 1))),
        ScheduleKind.Step => baseRate * Math.Pow(Factor, step / Math.Max(1, EveryEpochs * stepsPerEpoch)),
        _ => baseRate,
    };

    /// <summary>The text form (parses back to this schedule).</summary>
    public override string ToString() => Kind switch
    {
        ScheduleKind.Cosine => "cosine",
        ScheduleKind.Step => $"step:{EveryEpochs}:{Factor.ToString("R", CultureInfo.InvariantCulture)}",
        _ => "constant",
    };

    /// <summary>Parses <c>constant</c>, <c>cosine</c> or <c>step:{E}:{f}</c>; a bad text is an <see cref="ArgumentException"/> saying what is expected.</summary>
    public static LearningRateSchedule Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string t = text.Trim().ToLowerInvariant();
        if (t is "constant" or "none") return Constant;
        if (t == "cosine") return Cosine;
        string[] parts = t.Split(':');
        if (parts[0] == "step")
        {
            if (parts.Length == 3
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int every) && every >= 1
                && double.TryParse(parts[2], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double factor) && factor > 0 && factor <= 1)
                return StepDecay(every, factor);
            throw new ArgumentException($"learning-rate schedule '{text}': write step:{{E}}:{{f}} with E >= 1 epochs and 0 < f <= 1, e.g. step:10:0.1");
        }
        throw new ArgumentException($"unknown learning-rate schedule '{text}'; expected constant, cosine or step:{{E}}:{{f}} (e.g. step:10:0.1)");
    }
}

/// <summary>Writes a schedule as its text form and reads it back through <see cref="LearningRateSchedule.Parse"/>.</summary>
internal sealed class LearningRateScheduleJsonConverter : JsonConverter<LearningRateSchedule>
{
    public override LearningRateSchedule Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) throw new JsonException($"expected a learning-rate schedule as text (constant, cosine or step:E:f), found {reader.TokenType}");
        try { return LearningRateSchedule.Parse(reader.GetString()!); }
        catch (ArgumentException e) { throw new JsonException(e.Message); }
    }

    public override void Write(Utf8JsonWriter writer, LearningRateSchedule value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}
