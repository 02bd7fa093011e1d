<?php
/**
 * Plugin Name: Pertinent
 * Description: Loads Pertinent's tracking snippet on every page, proves signed-in users' ids, and adds the
 *              [pertinent_slot] and [pertinent_recommendations] shortcodes. Recipe: docs/integrations.md.
 * Version:     1.0.0
 * License:     Apache-2.0
 *
 * Settings (Settings > Pertinent, or constants in wp-config.php, which win):
 *   PERTINENT_HOST            https://pertinent.example.com  (where the server runs; the snippet loads from it)
 *   PERTINENT_WRITE_KEY       the public write key
 *   PERTINENT_IDENTITY_SECRET the identity secret (wp-config.php only: it must never reach a page)
 *   PERTINENT_USER_PREFIX     prefix of WordPress user ids as Pertinent sees them (default "wp-")
 */

if (!defined('ABSPATH')) {
    exit;
}

function pertinent_setting($name, $default = '')
{
    $constant = 'PERTINENT_' . strtoupper($name);
    if (defined($constant)) {
        return constant($constant);
    }
    return $name === 'identity_secret' ? $default : get_option('pertinent_' . $name, $default);
}

/** The snippet tag, with the signed-in user's id and its proof (hex HMAC-SHA256 of the id with the secret). */
function pertinent_snippet_tag()
{
    $host = rtrim((string) pertinent_setting('host'), '/');
    $key = (string) pertinent_setting('write_key');
    if ($host === '' || $key === '') {
        return '';
    }
    $attrs = ' data-write-key="' . esc_attr($key) . '"';
    $secret = (string) pertinent_setting('identity_secret');
    if ($secret !== '' && is_user_logged_in()) {
        $user_id = pertinent_setting('user_prefix', 'wp-') . get_current_user_id();
        $attrs .= ' data-user-id="' . esc_attr($user_id) . '"';
        $attrs .= ' data-user-hash="' . esc_attr(hash_hmac('sha256', $user_id, $secret)) . '"';
    }
    return '<script src="' . esc_url($host . '/pertinent.js') . '"' . $attrs . ' async></script>' . "\n";
}

add_action('wp_head', function () {
    echo pertinent_snippet_tag();
}, 1);

/** [pertinent_slot id="home.hero"]fallback markup[/pertinent_slot]: filled by /v1/decide in the browser. */
add_shortcode('pertinent_slot', function ($atts, $content = '') {
    $a = shortcode_atts(array('id' => '', 'href' => ''), $atts, 'pertinent_slot');
    if ($a['id'] === '') {
        return do_shortcode($content);
    }
    $href = $a['href'] !== '' ? ' data-href="' . esc_attr($a['href']) . '"' : '';
    return '<div data-pertinent-slot="' . esc_attr($a['id']) . '"' . $href . '>' . do_shortcode($content) . '</div>';
});

/** [pertinent_recommendations list="home" k="4" href="/?p={item_id}"]fallback[/pertinent_recommendations] */
add_shortcode('pertinent_recommendations', function ($atts, $content = '') {
    $a = shortcode_atts(array('list' => 'default', 'k' => '6', 'href' => '', 'similar_to' => ''), $atts, 'pertinent_recommendations');
    $out = '<section data-pertinent-recommendations="' . esc_attr($a['list']) . '" data-k="' . esc_attr((string) intval($a['k'])) . '"';
    if ($a['href'] !== '') {
        $out .= ' data-href="' . esc_attr($a['href']) . '"';
    }
    if ($a['similar_to'] !== '') {
        $out .= ' data-similar-to="' . esc_attr($a['similar_to']) . '"';
    }
    return $out . '><div data-pertinent-items>' . do_shortcode($content) . '</div></section>';
});

/** Settings > Pertinent: the host and the write key (the identity secret belongs in wp-config.php). */
add_action('admin_init', function () {
    register_setting('pertinent', 'pertinent_host', array('sanitize_callback' => 'esc_url_raw'));
    register_setting('pertinent', 'pertinent_write_key', array('sanitize_callback' => 'sanitize_text_field'));
});

add_action('admin_menu', function () {
    add_options_page('Pertinent', 'Pertinent', 'manage_options', 'pertinent', function () {
        echo '<div class="wrap"><h1>Pertinent</h1><form method="post" action="options.php">';
        settings_fields('pertinent');
        echo '<table class="form-table">';
        echo '<tr><th><label for="pertinent_host">Server URL</label></th><td><input id="pertinent_host" name="pertinent_host" class="regular-text" value="' . esc_attr(get_option('pertinent_host', '')) . '"></td></tr>';
        echo '<tr><th><label for="pertinent_write_key">Write key</label></th><td><input id="pertinent_write_key" name="pertinent_write_key" class="regular-text" value="' . esc_attr(get_option('pertinent_write_key', '')) . '"></td></tr>';
        echo '</table>';
        submit_button();
        echo '</form><p>Set <code>PERTINENT_IDENTITY_SECRET</code> in wp-config.php to personalise for signed-in users.</p></div>';
    });
});
