namespace MemRL.Core;

/// <summary>The Q update of paper Eq. 4 (gamma = 0, a Monte-Carlo EMA): <c>Q ← Q + alpha(R − Q)</c>, optionally floored.</summary>
public static class QRule
{
    /// <summary>The updated Q.</summary>
    public static double Update(double q, double reward, double alpha, double? floor)
    {
        double updated = q + (alpha * (reward - q));
        return floor is { } f && updated < f ? f : updated;
    }

    /// <summary>Throws unless <paramref name="reward"/> is a finite number.</summary>
    public static void ValidateReward(double reward, string paramName = "reward")
    {
        if (!double.IsFinite(reward))
        {
            throw new ArgumentOutOfRangeException(paramName, $"{paramName} is {RangeCheck.Format(reward)}; expected a finite number.");
        }
    }
}
