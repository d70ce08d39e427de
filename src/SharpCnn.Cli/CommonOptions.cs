using System.CommandLine;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary>Options several commands share, with the same names, help texts and tab completions everywhere.</summary>
internal static class CommonOptions
{
    /// <summary><c>--model</c>: a preset, a spec string or a saved model file; presets complete on tab.</summary>
    public static Option<string> Model(string description)
    {
        var option = new Option<string>("--model", "-m")
        {
            Description = description,
            HelpName = "PRESET|SPEC|FILE",
            DefaultValueFactory = _ => "seed-cnn",
        };
        option.CompletionSources.Add(Presets.All.Select(p => p.Name).ToArray());
        return option;
    }

    /// <summary><c>--data</c>: an MNIST-layout IDX folder instead of the bundled digits.</summary>
    public static Option<string?> Data(string description) => new("--data", "-d") { Description = description, HelpName = "DIR" };

    /// <summary><c>--precision</c>: float or double (<see cref="PrecisionOption"/> reads it).</summary>
    public static Option<string> Precision(string description = "Arithmetic: float (32-bit, fast) or double (64-bit)")
    {
        var option = new Option<string>("--precision")
        {
            Description = description,
            HelpName = "float|double",
            DefaultValueFactory = _ => Tensors.Precision.Float32.TypeName(),
        };
        option.CompletionSources.Add(Tensors.Precision.Float32.TypeName(), Tensors.Precision.Float64.TypeName());
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is var text && !Precisions.TryParse(text, out _))
                result.AddError($"--precision must be float or double, not '{text}'");
        });
        return option;
    }

    /// <summary><c>--loss</c>: ce, softmax-mse or mse.</summary>
    public static Option<string?> Loss()
    {
        var option = new Option<string?>("--loss")
        {
            Description = "Loss: ce (softmax cross-entropy), softmax-mse (softmax + squared error, seed 000) or mse (squared error on the raw outputs); default: the preset's, ce for a spec",
            HelpName = string.Join("|", Losses.Losses.Names),
        };
        option.CompletionSources.Add(Losses.Losses.Names.ToArray());
        return option;
    }

    /// <summary><c>--init</c>: the initialiser.</summary>
    public static Option<string?> Init()
    {
        var option = new Option<string?>("--init")
        {
            Description = "Initial weights: uniform ([0,1), the seeds' rand()), normal (N(0,0.1), bias 0.1), xavier, he or lecun; default: the preset's, he for a spec",
            HelpName = string.Join("|", Initializer.Names),
        };
        option.CompletionSources.Add(Initializer.Names.ToArray());
        return option;
    }

    /// <summary><c>--json</c>: machine-readable output.</summary>
    public static Option<bool> Json(string description) => new("--json") { Description = description };
}
