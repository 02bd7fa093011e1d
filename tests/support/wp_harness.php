<?php
// Renders one WordPress page with a plugin, without WordPress: just the functions the plugin calls.
// php wp_harness.php PLUGIN.php < post-content   (settings from the environment, as options and wp-config constants)
define('ABSPATH', __DIR__ . '/');
if (getenv('PERTINENT_IDENTITY_SECRET') !== false) {
    define('PERTINENT_IDENTITY_SECRET', getenv('PERTINENT_IDENTITY_SECRET'));  // wp-config.php
}
$GLOBALS['wp_actions'] = array();
$GLOBALS['wp_shortcodes'] = array();
function add_action($hook, $fn, $priority = 10) { $GLOBALS['wp_actions'][$hook][] = $fn; }
function do_action($hook) { foreach ($GLOBALS['wp_actions'][$hook] ?? array() as $fn) { $fn(); } }
function add_shortcode($tag, $fn) { $GLOBALS['wp_shortcodes'][$tag] = $fn; }
function shortcode_atts($pairs, $atts, $tag = '') {
    $atts = (array) $atts;
    $out = array();
    foreach ($pairs as $k => $v) { $out[$k] = array_key_exists($k, $atts) ? $atts[$k] : $v; }
    return $out;
}
function do_shortcode($content) {
    return preg_replace_callback('/\[(\w+)([^\]]*)\](?:(.*?)\[\/\1\])?/s', function ($m) {
        if (!isset($GLOBALS['wp_shortcodes'][$m[1]])) { return $m[0]; }
        preg_match_all('/(\w+)="([^"]*)"/', $m[2], $pairs, PREG_SET_ORDER);
        $atts = array();
        foreach ($pairs as $p) { $atts[$p[1]] = $p[2]; }
        return $GLOBALS['wp_shortcodes'][$m[1]]($atts, $m[3] ?? '');
    }, $content);
}
function esc_attr($s) { return htmlspecialchars((string) $s, ENT_QUOTES, 'UTF-8'); }
function esc_url($s) { return esc_attr($s); }
function get_option($name, $default = '') { $v = getenv(strtoupper($name)); return $v === false ? $default : $v; }
function is_user_logged_in() { return getenv('WP_USER') !== false; }
function get_current_user_id() { return (int) getenv('WP_USER'); }

require $argv[1];
$post = stream_get_contents(STDIN);
echo "<!doctype html><html><head><title>A WordPress page</title>\n";
do_action('wp_head');
echo "</head><body>\n" . do_shortcode($post) . "\n</body></html>\n";
