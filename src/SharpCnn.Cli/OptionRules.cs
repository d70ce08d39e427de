using System.CommandLine;
using System.CommandLine.Parsing;

namespace SharpCnn.Cli;

/// <summary>
/// Range rules for numeric options, checked while parsing, so a bad value is reported as
/// one line naming the option (e.g. <c>--epochs must be at least 1, not -3</c>) before anything runs.
/// </summary>
internal static class OptionRules
{
    /// <summary>The value must be at least <paramref name="min"/>.</summary>
    public static Option<int> AtLeast(this Option<int> option, int min) => Rule(option, v => v >= min, $"at least {min}");

    /// <summary>The value, when given, must be at least <paramref name="min"/>.</summary>
    public static Option<int?> AtLeast(this Option<int?> option, int min) => Rule(option, v => v is not { } n || n >= min, $"at least {min}");

    /// <summary>The value must be at least <paramref name="min"/>.</summary>
    public static Option<long> AtLeast(this Option<long> option, long min) => Rule(option, v => v >= min, $"at least {min}");

    /// <summary>The value must be a finite number above 0.</summary>
    public static Option<double> Positive(this Option<double> option) => Rule(option, v => v > 0 && double.IsFinite(v), "a positive number");

    /// <summary>The value must be 0 or a finite positive number.</summary>
    public static Option<double> ZeroOrPositive(this Option<double> option) => Rule(option, v => v >= 0 && double.IsFinite(v), "0 or a positive number");

    /// <summary>The value must be in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public static Option<double> InRange(this Option<double> option, double min, double max) =>
        Rule(option, v => v >= min && v < max, $"at least {min} and below {max}");

    /// <summary>True when the user typed the option (not just its default).</summary>
    public static bool Given(this ParseResult result, Option option) => result.GetResult(option) is { Implicit: false };

    private static Option<TValue> Rule<TValue>(Option<TValue> option, Func<TValue, bool> valid, string expected)
    {
        option.Validators.Add(result =>
        {
            TValue? value;
            try
            {
                value = result.GetValueOrDefault<TValue>();
            }
            catch (InvalidOperationException)
            {
                return; // the value did not even parse; the parser reports that
            }
            if (value is not null && !valid(value))
                result.AddError($"{option.Name} must be {expected}, not {value}");
        });
        return option;
    }
}
